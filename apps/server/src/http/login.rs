//! `POST /auth/login`.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{Extensions, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use jcselect_sync::auth::Role;
use jcselect_sync::wire::{LoginRequest, LoginResponse};

use super::{ApiError, AppState};
use crate::throttle::Gate;

/// Exchanges a user name and password for a token; 401 for any mismatch,
/// 429 with `Retry-After` while repeated failures lock the name or the
/// address out.
pub async fn login(
    State(app): State<AppState>,
    extensions: Extensions,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let request: LoginRequest = serde_json::from_slice(&bytes).map_err(|error| {
        ApiError::bad_request(format!(
            "the body must be {{\"username\", \"password\"}}: {error}"
        ))
    })?;
    let address = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    match app.throttle.gate(&request.username, address) {
        Gate::Locked(left) => {
            tracing::warn!(username = %request.username, ?address, "log-in refused: locked out");
            let seconds = left.as_secs().max(1);
            let mut response = ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                code: "too_many_attempts",
                message: format!(
                    "too many failed log-ins for this user or address; try again in {seconds} s"
                ),
            }
            .into_response();
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds));
            return Ok(response);
        }
        Gate::Proceed(delay) => tokio::time::sleep(delay).await,
    }
    let user =
        crate::users::check_password(app.store.as_ref(), &request.username, &request.password)
            .await
            .map_err(|error| {
                tracing::error!(%error, "log-in check failed");
                ApiError::from(jcselect_sync::store::StoreError::Config {
                    store: "login",
                    message: error.to_string(),
                })
            })?;
    let Some(user) = user else {
        app.throttle.failed(&request.username, address);
        tracing::info!(username = %request.username, ?address, "log-in refused");
        return Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "invalid_credentials",
            message: "unknown user, wrong password, or user not active".into(),
        });
    };
    app.throttle.succeeded(&request.username);
    let token = app.tokens.mint(
        user.login.user_id,
        &request.username,
        user.role,
        &user.login.pens,
        app.token_ttl_seconds,
    );
    Ok(Json(LoginResponse {
        access_token: token,
        token_type: "bearer".into(),
        expires_in: app.token_ttl_seconds,
        user_id: user.login.user_id,
        role: match user.role {
            Role::Admin => "admin".into(),
            Role::Operator => "operator".into(),
        },
    })
    .into_response())
}
