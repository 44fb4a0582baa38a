//! `POST /sync/push` and `GET /sync/pull`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use jcselect_entities::SyncAudit;
use jcselect_sync::pull::{decode_cursor, read_pull, PullFrom, DEFAULT_PULL_LIMIT, MAX_PULL_LIMIT};
use jcselect_sync::push::PushContext;
use jcselect_sync::wire::{SyncPushRequest, MAX_CHANGES_PER_PUSH};
use jcselect_sync::Timestamp;

use super::{ApiError, AppState};

/// Applies a batch of changes; 200, or 409 when some wait for a parent.
pub async fn push(
    State(app): State<AppState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let principal = app.authenticate(&headers).await?;
    let request: SyncPushRequest = serde_json::from_slice(&bytes).map_err(|error| {
        ApiError::bad_request(format!("the body is not a SyncPushRequest: {error}"))
    })?;
    if request.changes.len() > MAX_CHANGES_PER_PUSH {
        return Err(ApiError::bad_request(format!(
            "{} changes in one request; at most {MAX_CHANGES_PER_PUSH} are allowed",
            request.changes.len()
        )));
    }
    let context = PushContext {
        registry: app.registry,
        audit: &SyncAudit,
        max_clock_skew_micros: i64::try_from(app.max_clock_skew_seconds).unwrap_or(i64::MAX / 2)
            * 1_000_000,
        accept_credentials: false,
        new_logins: &[],
    };
    let request = std::sync::Arc::new(request);
    let response = app
        .pushes
        .apply(
            app.store.as_ref(),
            &context,
            &principal,
            request.clone(),
            Timestamp::now(),
        )
        .await?;
    app.metrics.push(&response);
    app.stations
        .heard(app.store.as_ref(), principal.user_id, &headers)
        .await;
    tracing::info!(
        user = %principal.user_id,
        changes = request.changes.len(),
        processed = response.processed_count,
        conflicts = response.conflicts.len(),
        waiting = response.dependency_conflicts.len(),
        failed = response.failed_changes.len(),
        "push"
    );
    let status = if response.dependency_conflicts.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    Ok((status, Json(response)).into_response())
}

/// The query of a pull, checked.
fn pull_from(params: &HashMap<String, String>) -> Result<(PullFrom, usize), ApiError> {
    let limit = match params.get("limit") {
        None => DEFAULT_PULL_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=MAX_PULL_LIMIT).contains(limit))
            .ok_or_else(|| {
                ApiError::bad_request(format!("limit must be 1 to {MAX_PULL_LIMIT}, got {text:?}"))
            })?,
    };
    let offset = match params.get("offset") {
        None => 0,
        Some(text) => text.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("offset must be 0 or more, got {text:?}"))
        })?,
    };
    let from = match (params.get("cursor"), params.get("last_sync")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request("give cursor or last_sync, not both"))
        }
        (Some(cursor), None) => {
            if params.contains_key("offset") {
                return Err(ApiError::bad_request(
                    "offset goes with last_sync, not with cursor",
                ));
            }
            let seq =
                decode_cursor(cursor).map_err(|error| ApiError::bad_request(error.to_string()))?;
            PullFrom::Cursor(Some(seq))
        }
        (None, Some(last_sync)) => PullFrom::LastSync {
            // an unescaped "+00:00" arrives as " 00:00" in a query string
            last_sync: last_sync
                .parse::<Timestamp>()
                .or_else(|error| last_sync.replace(' ', "+").parse().map_err(|_| error))
                .map_err(|error| ApiError::bad_request(format!("last_sync: {error}")))?,
            offset,
        },
        (None, None) if offset > 0 => PullFrom::LastSync {
            last_sync: Timestamp::MIN,
            offset,
        },
        (None, None) => PullFrom::Cursor(None),
    };
    Ok((from, limit))
}

/// A page of changes after a cursor (or a `last_sync` time).
pub async fn pull(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let principal = app.authenticate(&headers).await?;
    let (from, limit) = pull_from(&params)?;
    let entitlement = crate::users::Entitlement {
        store: app.store.clone(),
    };
    let context = jcselect_sync::pull::PullContext {
        registry: app.registry,
        credentials: &entitlement,
    };
    let page = read_pull(app.store.as_ref(), &context, &principal, from, limit).await?;
    app.metrics.pull(&page);
    app.stations
        .heard(app.store.as_ref(), principal.user_id, &headers)
        .await;
    tracing::debug!(user = %principal.user_id, changes = page.changes.len(), has_more = page.has_more, "pull");
    Ok(Json(page).into_response())
}
