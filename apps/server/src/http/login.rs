//! `POST /auth/login`.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{Extensions, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use jcselect_sync::auth::Role;
use jcselect_sync::store::RefreshSession;
use jcselect_sync::wire::{LoginRequest, LoginResponse, RefreshRequest};
use jcselect_sync::Timestamp;
use sha2::{Digest, Sha256};

use super::{ApiError, AppState};
use crate::throttle::Gate;

/// Exchanges a user name and password for a token; 401 for any mismatch,
/// 429 with `Retry-After` while repeated failures lock the name or the
/// address out.
pub async fn login(
    State(app): State<AppState>,
    extensions: Extensions,
    bytes: Bytes,
) -> Result<Response, Response> {
    let request: LoginRequest = serde_json::from_slice(&bytes).map_err(|error| {
        ApiError::bad_request(format!(
            "the body must be {{\"username\", \"password\"}}: {error}"
        ))
        .into_response()
    })?;
    let address = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let user = check_login(&app, &request.username, &request.password, address).await?;
    let issued = issue(&app, &user)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(Json(issued).into_response())
}

/// A user name and password checked, under the log-in throttle: the
/// active user, or 401 for any mismatch, 429 with `Retry-After` while
/// repeated failures lock the name or the address out (as a response).
pub(crate) async fn check_login(
    app: &AppState,
    username: &str,
    password: &str,
    address: Option<std::net::IpAddr>,
) -> Result<crate::users::ActiveUser, Response> {
    match app.throttle.gate(username, address) {
        Gate::Locked(left) => {
            tracing::warn!(%username, ?address, "log-in refused: locked out");
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
            return Err(response);
        }
        Gate::Proceed(delay) => tokio::time::sleep(delay).await,
    }
    let user = crate::users::check_password(app.store.as_ref(), username, password)
        .await
        .map_err(|error| {
            tracing::error!(%error, "log-in check failed");
            ApiError::from(jcselect_sync::store::StoreError::Config {
                store: "login",
                message: error.to_string(),
            })
            .into_response()
        })?;
    let Some(user) = user else {
        app.throttle.failed(username, address);
        tracing::info!(%username, ?address, "log-in refused");
        return Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "invalid_credentials",
            message: "unknown user, wrong password, or user not active".into(),
        }
        .into_response());
    };
    app.throttle.succeeded(username);
    Ok(user)
}

/// Exchanges a refresh token for a new access token and a new refresh
/// token (the old one stops working); 401 when it is unknown, used,
/// expired, or its user is no longer active.
pub async fn refresh(
    State(app): State<AppState>,
    bytes: Bytes,
) -> Result<Json<LoginResponse>, ApiError> {
    let request: RefreshRequest = serde_json::from_slice(&bytes).map_err(|error| {
        ApiError::bad_request(format!("the body must be {{\"refresh_token\"}}: {error}"))
    })?;
    let refused = || {
        ApiError {
        status: StatusCode::UNAUTHORIZED,
        code: "invalid_refresh_token",
        message: "the session is unknown, already renewed, expired, or its user is no longer active; log in with the password".into(),
    }
    };
    let session = app
        .store
        .take_session(&token_hash(&request.refresh_token))
        .await?
        .filter(|session| session.expires_at > Timestamp::now())
        .ok_or_else(refused)?;
    let user = crate::users::active_user(app.store.as_ref(), &session.username)
        .await
        .map_err(|error| {
            tracing::error!(%error, "refresh check failed");
            ApiError::from(jcselect_sync::store::StoreError::Config {
                store: "login",
                message: error.to_string(),
            })
        })?
        .filter(|user| user.login.user_id == session.user_id);
    let Some(user) = user else {
        // deactivated or deleted: refused now, but the session is kept so
        // that a station whose user is re-activated carries on by itself
        app.store.put_session(&session, Timestamp::now()).await?;
        return Err(refused());
    };
    Ok(Json(issue(&app, &user).await?))
}

/// The hex SHA-256 of a refresh token: what the store keeps.
fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// An access token and a new refresh session for an active user.
async fn issue(app: &AppState, user: &crate::users::ActiveUser) -> Result<LoginResponse, ApiError> {
    let access_token = app.tokens.mint(
        user.login.user_id,
        &user.login.username,
        user.role,
        &user.login.pens,
        app.token_ttl_seconds,
    );
    let refresh_token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let now = Timestamp::now();
    let refresh_micros = i64::try_from(app.refresh_ttl_seconds).unwrap_or(i64::MAX / 2_000_000);
    app.store
        .put_session(
            &RefreshSession {
                token_hash: token_hash(&refresh_token),
                username: user.login.username.clone(),
                user_id: user.login.user_id,
                expires_at: now.plus_micros(refresh_micros * 1_000_000),
            },
            now,
        )
        .await?;
    Ok(LoginResponse {
        access_token,
        token_type: "bearer".into(),
        expires_in: app.token_ttl_seconds,
        user_id: user.login.user_id,
        role: match user.role {
            Role::Admin => "admin".into(),
            Role::Operator => "operator".into(),
        },
        refresh_token: Some(refresh_token),
        refresh_expires_in: Some(app.refresh_ttl_seconds),
    })
}
