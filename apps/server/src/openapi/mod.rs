//! The OpenAPI document, with request and response schemas generated from
//! the same wire types the handlers use, and each entity's record from its
//! declaration.

mod records;

use jcselect_sync::wire::{
    ErrorBody, LoginRequest, LoginResponse, RefreshRequest, SyncPullResponse, SyncPushRequest,
    SyncPushResponse,
};
use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{json, Value};

fn body(reference: &Value, description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": reference } } })
}

/// The generated definitions, with `EntityChange.data` described by the
/// entities' record schemas.
fn definitions(generator: &mut schemars::SchemaGenerator) -> serde_json::Map<String, Value> {
    let mut definitions = generator.take_definitions(true);
    if let Ok(registry) = jcselect_entities::registry() {
        records::describe_changes(&mut definitions, registry);
    }
    definitions
}

/// The document served at `/openapi.json`.
pub fn document() -> Value {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let mut schema =
        |of: fn(&mut schemars::SchemaGenerator) -> schemars::Schema| of(&mut generator).to_value();
    fn of<T: JsonSchema>(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<T>()
    }
    let push_request = schema(of::<SyncPushRequest>);
    let push_response = schema(of::<SyncPushResponse>);
    let pull_response = schema(of::<SyncPullResponse>);
    let login_request = schema(of::<LoginRequest>);
    let login_response = schema(of::<LoginResponse>);
    let refresh_request = schema(of::<RefreshRequest>);
    let error = schema(of::<ErrorBody>);
    let error_body = |description: &str| body(&error, description);
    let bearer = json!([{ "bearer": [] }]);
    let query = |name: &str, description: &str, schema: Value| json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema });
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "jcselect-sync",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Offline-first sync for jcselect: push local changes, pull everyone else's."
        },
        "paths": {
            "/sync/push": { "post": {
                "summary": "Apply a batch of changes in one transaction, in dependency order",
                "security": bearer,
                "requestBody": { "required": true, "content": { "application/json": { "schema": push_request } } },
                "responses": {
                    "200": body(&push_response, "every change sorted into a bucket"),
                    "409": body(&push_response, "some changes wait for a missing parent; the rest was applied"),
                    "400": error_body("not a SyncPushRequest, or more than 10000 changes; nothing applied"),
                    "401": error_body("missing, malformed, expired or wrongly signed token"),
                    "413": error_body("body larger than max_payload_size; nothing applied"),
                }
            }},
            "/sync/pull": { "get": {
                "summary": "A page of changes in the server's receive order",
                "security": bearer,
                "parameters": [
                    query("cursor", "next_cursor of the previous page; absent: from the beginning", json!({"type": "string"})),
                    query("last_sync", "seed form: server_timestamp of the previous sync", json!({"type": "string", "format": "date-time"})),
                    query("offset", "seed form: changes to skip", json!({"type": "integer", "minimum": 0})),
                    query("limit", "page size", json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 100})),
                ],
                "responses": {
                    "200": body(&pull_response, "a page"),
                    "400": error_body("bad limit, offset, cursor or timestamp"),
                    "401": error_body("missing, malformed, expired or wrongly signed token"),
                }
            }},
            "/auth/login": { "post": {
                "summary": "Exchange a user name and password for a token",
                "requestBody": { "required": true, "content": { "application/json": { "schema": login_request } } },
                "responses": {
                    "200": body(&login_response, "a bearer token and a refresh token"),
                    "401": error_body("unknown user, wrong password, or user not active"),
                    "429": error_body("too many failed log-ins for this user name or address; see Retry-After"),
                }
            }},
            "/auth/refresh": { "post": {
                "summary": "Exchange a refresh token for a new bearer token and a new refresh token (the old one stops working)",
                "requestBody": { "required": true, "content": { "application/json": { "schema": refresh_request } } },
                "responses": {
                    "200": body(&login_response, "a bearer token and the next refresh token"),
                    "401": error_body("unknown, already used or expired refresh token, or user not active"),
                }
            }},
            "/health": { "get": {
                "summary": "200 once the database answers",
                "responses": { "200": { "description": "ready" }, "503": error_body("the database does not answer") }
            }},
            "/metrics": { "get": {
                "summary": "Prometheus text metrics of this process",
                "responses": { "200": { "description": "text/plain; version=0.0.4" } }
            }},
            "/openapi.json": { "get": {
                "summary": "This document",
                "responses": { "200": { "description": "OpenAPI 3" } }
            }}
        },
        "components": {
            "schemas": definitions(&mut generator),
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } }
        }
    })
}
