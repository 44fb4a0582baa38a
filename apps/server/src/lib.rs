//! # jcselect-server
//!
//! The cloud sync API of jcselect-sync as a library (the binary only parses
//! its command line and calls it, as mini-redis does): settings, the JWT
//! secret, the store a URL names, users and tokens, and the HTTP API with
//! [`http::run`] for tests and embedding.

pub mod admin;
pub mod auth;
pub mod database;
mod error;
pub mod export;
pub mod http;
pub mod import;
pub mod metrics;
pub mod openapi;
pub mod secret;
pub mod settings;
pub mod stations;
pub mod throttle;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

pub use error::ServerError;

use crate::http::AppState;
use crate::settings::Settings;

/// The registry of jcselect's entities, checked (duplicates, unknown
/// parents, cycles stop start-up here).
pub fn registry() -> Result<&'static jcselect_sync::Registry, ServerError> {
    jcselect_entities::registry()
        .map_err(|error| ServerError::User(format!("entity declarations: {error}")))
}

/// Opens the store and builds the router for `settings`, signing tokens
/// with `secret`.
pub async fn app(
    settings: &Settings,
    secret: &secret::JwtSecret,
) -> Result<axum::Router, ServerError> {
    let registry = registry()?;
    // the decoy an unknown user name is checked against, made before the
    // first log-in so that log-in takes no longer than any other
    tokio::task::spawn_blocking(users::decoy_hash);
    let store = database::open_store(&settings.database_url, registry).await?;
    let state = AppState {
        store,
        registry,
        tokens: auth::Tokens::new(secret),
        token_ttl_seconds: settings.token_ttl_seconds,
        refresh_ttl_seconds: settings.refresh_ttl_seconds,
        max_payload_size: settings.max_payload_size,
        max_clock_skew_seconds: settings.max_clock_skew_seconds,
        metrics: Arc::new(metrics::Metrics::default()),
        pushes: Arc::default(),
        stations: Arc::default(),
        board: Arc::new(admin::Board::new(
            admin::Thresholds {
                amber_seconds: settings.station_amber_seconds,
                red_seconds: settings.station_red_seconds,
            },
            registry,
        )),
        throttle: Arc::new(throttle::LoginThrottle::new(Duration::from_secs(
            settings.login_lockout_seconds,
        ))),
    };
    Ok(http::router(
        state,
        Duration::from_secs(settings.request_timeout_seconds),
    ))
}
