//! The schema of each entity's record, generated from its declaration:
//! every field with its type, nullability, allowed values, reference and
//! natural key — so that a client can be written from the document alone.

use jcselect_sync::decl::{EntityDecl, FieldDecl, FieldType};
use jcselect_sync::{Registry, LOCKED_CREDENTIAL};
use serde_json::{json, Map, Value};

/// One field's schema.
fn field_schema(entity: &EntityDecl, field: &FieldDecl) -> Value {
    let mut schema = match field.ty {
        FieldType::Uuid => json!({"type": "string", "format": "uuid"}),
        FieldType::Text => json!({"type": "string"}),
        FieldType::Int => json!({"type": "integer", "format": "int64"}),
        FieldType::Bool => json!({"type": "boolean"}),
        FieldType::Timestamp => json!({"type": "string", "format": "date-time"}),
        FieldType::Json => json!({"description": "any JSON value"}),
    };
    let object = schema.as_object_mut().expect("a schema is an object");
    if field.nullable {
        object.insert("nullable".into(), Value::Bool(true));
    }
    if !field.one_of.is_empty() {
        object.insert("enum".into(), json!(field.one_of));
    }
    if let Some(min) = field.min {
        object.insert("minimum".into(), json!(min));
    }
    let mut notes = Vec::new();
    let parent = entity
        .references
        .iter()
        .find(|r| r.field == field.name)
        .map(|reference| reference.parent)
        .or(entity.deleted_by.filter(|_| field.name == "deleted_by"));
    if let Some(parent) = parent {
        notes.push(format!("the id of a `{parent}`"));
    }
    if field.credential {
        notes.push(format!(
            "a bcrypt password hash, sent only to a replica entitled to it (\"{LOCKED_CREDENTIAL}\" to others) and never taken from a push"
        ));
    }
    for key in entity.natural_keys {
        if key.fields.contains(&field.name) {
            notes.push(format!(
                "part of the natural key ({}), unique among {} records",
                key.fields.join(" + "),
                if key.live_only { "live" } else { "all" }
            ));
        }
    }
    if !notes.is_empty() {
        object.insert("description".into(), Value::String(notes.join("; ")));
    }
    schema
}

/// Each entity's record schema, by its wire name (`Voter`, …).
pub fn record_schemas(registry: &Registry) -> Map<String, Value> {
    registry
        .entities()
        .map(|entity| {
            let properties: Map<String, Value> = entity
                .all_fields()
                .map(|field| (field.name.to_owned(), field_schema(entity, field)))
                .collect();
            let required: Vec<&str> = entity
                .all_fields()
                .filter(|field| !field.nullable)
                .map(|field| field.name)
                .collect();
            let schema = json!({
                "type": "object",
                "description": format!(
                    "A `{}` record (the desktop app's `{}` table): the `data` of a change whose `entity_type` is \"{}\". Fields not listed are ignored; a nullable field may be left out.",
                    entity.name, entity.table, entity.name
                ),
                "properties": properties,
                "required": required,
            });
            (entity.name.to_owned(), schema)
        })
        .collect()
}

/// Adds the record schemas and points `EntityChange` (its `data` and its
/// `entity_type`) at them.
pub fn describe_changes(definitions: &mut Map<String, Value>, registry: &Registry) {
    let names: Vec<&str> = registry.entities().map(|entity| entity.name).collect();
    let references: Vec<Value> = names
        .iter()
        .map(|name| json!({ "$ref": format!("#/components/schemas/{name}") }))
        .collect();
    if let Some(properties) = definitions
        .get_mut("EntityChange")
        .and_then(|change| change.get_mut("properties"))
        .and_then(Value::as_object_mut)
    {
        properties.insert(
            "data".into(),
            json!({
                "description": "The whole record, in the schema its entity_type names.",
                "oneOf": references,
            }),
        );
        if let Some(entity_type) = properties
            .get_mut("entity_type")
            .and_then(Value::as_object_mut)
        {
            entity_type.insert("enum".into(), json!(names));
        }
    }
    definitions.extend(record_schemas(registry));
}
