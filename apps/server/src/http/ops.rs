//! `GET /health`, `GET /metrics`, `GET /openapi.json`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::{ApiError, AppState};

/// 200 once the database answers, 503 otherwise.
pub async fn health(State(app): State<AppState>) -> Response {
    match app.store.log_head().await {
        Ok(head) => {
            Json(json!({ "status": "ok", "receive_seq": head.receive_seq })).into_response()
        }
        Err(error) => {
            tracing::warn!(%error, "health check failed");
            ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "unavailable",
                message: "the database does not answer".into(),
            }
            .into_response()
        }
    }
}

/// Prometheus text: this process's counters, and the per-pen gauges of
/// the control room.
pub async fn metrics(State(app): State<AppState>) -> Response {
    let mut text = app.metrics.render();
    match app.board.snapshot(app.store.as_ref()).await {
        Ok(snapshot) => text.push_str(&snapshot.overview.prometheus()),
        Err(error) => tracing::warn!(%error, "per-pen gauges left out of /metrics"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The OpenAPI document.
pub async fn openapi() -> Response {
    Json(crate::openapi::document()).into_response()
}
