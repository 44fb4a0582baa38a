//! `POST /auth/login`.

use axum::body::Body;
use axum::extract::State;
use axum::Json;
use jcselect_sync::auth::Role;
use jcselect_sync::wire::{LoginRequest, LoginResponse};

use super::{ApiError, AppState};

/// Exchanges a user name and password for a token; 401 for any mismatch.
pub async fn login(
    State(app): State<AppState>,
    body: Body,
) -> Result<Json<LoginResponse>, ApiError> {
    let bytes = super::sync::read_body(body, app.max_payload_size).await?;
    let request: LoginRequest = serde_json::from_slice(&bytes).map_err(|error| {
        ApiError::bad_request(format!(
            "the body must be {{\"username\", \"password\"}}: {error}"
        ))
    })?;
    let user =
        crate::users::check_password(app.store.as_ref(), &request.username, &request.password)
            .await
            .map_err(|error| {
                tracing::error!(%error, "log-in check failed");
                ApiError::from(jcselect_sync::store::StoreError::Config {
                    store: "login",
                    message: error.to_string(),
                })
            })?
            .ok_or_else(|| {
                tracing::info!(username = %request.username, "log-in refused");
                ApiError {
                    status: axum::http::StatusCode::UNAUTHORIZED,
                    code: "invalid_credentials",
                    message: "unknown user, wrong password, or user not active".into(),
                }
            })?;
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
    }))
}
