//! The HTTP API: the router, its layers, and `run`.

mod error;
pub(crate) mod login;
mod ops;
mod paced;
mod sync;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use jcselect_sync::auth::Principal;
use jcselect_sync::store::ServerStore;
use jcselect_sync::Registry;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use error::ApiError;

use crate::auth::Tokens;
use crate::metrics::Metrics;

/// Everything a request handler needs. Nothing here is a cache of data
/// another server process could change: every sync answer comes from the
/// store (the control room's figures may be a few seconds old).
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Arc<dyn ServerStore>,
    /// The entities.
    pub registry: &'static Registry,
    /// Mints and checks tokens.
    pub tokens: Tokens,
    /// Lifetime of tokens `/auth/login` issues, seconds.
    pub token_ttl_seconds: u64,
    /// Lifetime of refresh tokens, seconds.
    pub refresh_ttl_seconds: u64,
    /// Largest request body, bytes.
    pub max_payload_size: u64,
    /// How far ahead of our clock a change may be stamped, seconds.
    pub max_clock_skew_seconds: u64,
    /// This process's counters.
    pub metrics: Arc<Metrics>,
    /// This process's pushes, committed in groups.
    pub pushes: Arc<jcselect_sync::push::PushQueue>,
    /// Failed log-ins by user name and address.
    pub throttle: Arc<crate::throttle::LoginThrottle>,
    /// The station reports this process wrote last.
    pub stations: Arc<crate::stations::StationBook>,
    /// The control room's thresholds and the figures it reuses between
    /// polls (a few seconds old at most).
    pub board: Arc<crate::admin::Board>,
}

impl AppState {
    /// The principal of a request's bearer token, or 401: a valid token of
    /// a user who still exists and is active, with no more than the role
    /// and pens the user holds now (a token outlives no deactivation,
    /// deletion, demotion or pen removal).
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let value = headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthorized("missing Authorization: Bearer <token> header")
            })?;
        let token = value
            .to_str()
            .ok()
            .and_then(|text| {
                text.strip_prefix("Bearer ")
                    .or_else(|| text.strip_prefix("bearer "))
            })
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
            })?;
        let (claimed, username) = self
            .tokens
            .verify_claims(token.trim())
            .map_err(|refused| ApiError::unauthorized(refused.0))?;
        crate::users::current_principal(self.store.as_ref(), &claimed, &username)
            .await
            .map_err(|error| {
                tracing::error!(%error, "checking a token's user failed");
                ApiError::from(jcselect_sync::store::StoreError::Config {
                    store: "users",
                    message: error.to_string(),
                })
            })?
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "the token's user is no longer active (deactivated, deleted or changed); log in again",
                )
            })
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Counts every request by route and status, with its latency.
async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.request(&route, response.status().as_u16(), started.elapsed());
    response
}

/// The API's router with every layer: request ids, tracing, bodies read at
/// the link's pace (a stall of `request_timeout` ends a request, a slow
/// upload does not) and the work after them limited to `request_timeout`,
/// gzip or zstd for clients that accept it, JSON error bodies, metrics.
pub fn router(state: AppState, request_timeout: Duration) -> Router {
    let metrics = state.metrics.clone();
    let pace = paced::Pace {
        idle: request_timeout,
        work: request_timeout,
        max_body: state.max_payload_size,
    };
    Router::new()
        .route("/sync/push", post(sync::push))
        .route("/sync/pull", get(sync::pull))
        .route("/auth/login", post(login::login))
        .route("/auth/refresh", post(login::refresh))
        .route("/health", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .merge(crate::admin::routes())
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(pace, paced::paced))
        .layer(middleware::from_fn_with_state(metrics, track))
        .layer(middleware::map_response(error::json_errors))
        .layer(
            // zstd where the client takes it, else gzip; both at their
            // fastest level: about as small for JSON, several times cheaper
            // than the default on a busy server
            CompressionLayer::new()
                .gzip(true)
                .zstd(true)
                .quality(tower_http::CompressionLevel::Fastest),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let id = request
                .headers()
                .get(REQUEST_ID)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Serves `router` on `listener` until `shutdown` completes, then stops
/// taking connections and waits for the requests in flight to finish.
pub async fn run(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // answers go out as they are written: with Nagle's algorithm the last
    // piece of a page waits for the client's delayed acknowledgement
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
