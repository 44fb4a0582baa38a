//! Request bodies read at the link's pace: a slow upload that keeps
//! moving is never cut off (a station on 3G sends 1 MiB at 8 KB/s in two
//! minutes), a stalled one is, and the work after the body is read has its
//! own deadline.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// Most bytes of an oversized body read and thrown away so that the client,
/// still sending, can read the 413 instead of a reset connection.
const DRAIN_LIMIT: u64 = 128 * 1024 * 1024;

/// The deadlines and size limit of every request.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Longest wait for the next piece of a request body.
    pub idle: Duration,
    /// Longest time for the work once the body is in.
    pub work: Duration,
    /// Largest body, bytes.
    pub max_body: u64,
}

/// Reads a body no larger than `limit` bytes, waiting at most `idle` for
/// each piece; a larger one is read to its end (up to [`DRAIN_LIMIT`]),
/// thrown away and answered 413; a stalled one is answered 408.
pub async fn read_body(body: Body, limit: u64, idle: Duration) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut kept = Vec::new();
    let mut total: u64 = 0;
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => {
                return Err(ApiError {
                    status: StatusCode::REQUEST_TIMEOUT,
                    code: "request_timeout",
                    message: format!(
                        "the request body stopped arriving for {} s after {total} bytes; nothing was applied",
                        idle.as_secs()
                    ),
                })
            }
            Ok(None) => break,
            Ok(Some(Err(_))) => {
                return Err(ApiError::bad_request("the request body could not be read"))
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            total += data.len() as u64;
            if total > DRAIN_LIMIT {
                break;
            }
            if total <= limit {
                kept.extend_from_slice(&data);
            }
        }
    }
    if total > limit {
        return Err(ApiError::too_large(limit));
    }
    Ok(Bytes::from(kept))
}

/// The middleware: the body at the link's pace, then the handler, detached
/// from the connection, under [`Pace::work`] (503 when it runs out; the
/// handler still finishes its transaction, and a replay of the push is
/// answered as already processed).
pub async fn paced(State(pace): State<Pace>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match read_body(body, pace.max_body, pace.idle).await {
        Ok(bytes) => bytes,
        Err(error) => return error.into_response(),
    };
    let request = Request::from_parts(parts, Body::from(bytes));
    // the work runs as a task of its own: a client that hangs up, or the
    // deadline below, never cancels it half-way through a transaction (a
    // connection never goes back to its pool with a transaction open); an
    // abandoned push still commits or rolls back, and its replay is
    // answered from the remembered change ids
    let work = tokio::spawn(tracing::Instrument::in_current_span(next.run(request)));
    match tokio::time::timeout(pace.work, work).await {
        Ok(Ok(response)) => response,
        Ok(Err(join_error)) => {
            tracing::error!(error = %join_error, "request handler failed");
            ApiError::from(jcselect_sync::store::StoreError::Config {
                store: "server",
                message: "the request handler failed".into(),
            })
            .into_response()
        }
        Err(_) => {
            tracing::warn!(
                seconds = pace.work.as_secs(),
                "request took too long; abandoned"
            );
            let mut response = ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "busy",
                message: format!(
                    "the server could not finish in {} s; nothing was applied, try again",
                    pace.work.as_secs()
                ),
            }
            .into_response();
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("5"),
            );
            response
        }
    }
}
