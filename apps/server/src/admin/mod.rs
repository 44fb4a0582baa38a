//! `/admin`: the election-day control room, on the server's own port.
//! Admins log in with the API's credentials; the page shows every pen's
//! stations — when each last synced, what it holds unsent and since when,
//! what it parked — and the pen's turnout, refreshed every few seconds.
//! The same figures per pen are on `/metrics`.

mod delta;
mod overview;
mod page;
mod session;
mod turnout;

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;

pub use delta::{Delta, Snapshot, SNAPSHOT_KEPT};
pub use overview::{Board, Health, Overview, Thresholds};
pub use turnout::{Cadence, Turnout, TurnoutCounter};

use crate::http::AppState;
use page::Lang;

/// The control room's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(dashboard))
        .route("/admin/login", post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/api/overview", get(overview_json))
        .route("/admin/api/pens/{pen}/votes", get(pen_votes))
        .route("/admin/assets/admin.js", get(script))
        .route("/admin/assets/admin.css", get(style))
}

type Params = Query<HashMap<String, String>>;

fn lang(params: &Params, headers: &HeaderMap) -> Lang {
    Lang::pick(params.get("lang").map(String::as_str), headers)
}

/// A page that is never cached (it shows a session's data).
fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, Html(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The dashboard for an admin's session, else the log-in form.
async fn dashboard(State(app): State<AppState>, params: Params, headers: HeaderMap) -> Response {
    let lang = lang(&params, &headers);
    match session::admin(&app, &headers).await {
        Some((_, username)) => html(StatusCode::OK, page::dashboard(lang, &username)),
        None => html(StatusCode::OK, page::login(lang, None)),
    }
}

/// The log-in form's fields.
#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

/// Checks the form under the API's log-in throttle; an admin gets the
/// session cookie and goes to the dashboard, anyone else the form again
/// with the reason.
async fn login(
    State(app): State<AppState>,
    params: Params,
    headers: HeaderMap,
    extensions: Extensions,
    Form(credentials): Form<Credentials>,
) -> Response {
    let lang = lang(&params, &headers);
    if !session::same_site(&headers) {
        tracing::warn!("a log-in form posted from another site was refused");
        return html(
            StatusCode::FORBIDDEN,
            page::login(lang, Some("this form was sent from another site")),
        );
    }
    let address = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let user = match crate::http::login::check_login(
        &app,
        &credentials.username,
        &credentials.password,
        address,
    )
    .await
    {
        Ok(user) => user,
        Err(refused) => {
            let status = refused.status();
            let problem = if status == StatusCode::TOO_MANY_REQUESTS {
                "too many failed log-ins: wait a few minutes and try again"
            } else {
                "unknown user, wrong password, or user not active"
            };
            return html(status, page::login(lang, Some(problem)));
        }
    };
    if user.role != jcselect_sync::auth::Role::Admin {
        return html(StatusCode::FORBIDDEN, page::admins_only(lang));
    }
    let token = app.tokens.mint(
        user.login.user_id,
        &user.login.username,
        user.role,
        &user.login.pens,
        app.token_ttl_seconds,
    );
    tracing::info!(username = %user.login.username, "control room log-in");
    let mut response = (StatusCode::SEE_OTHER, ()).into_response();
    let headers_out = response.headers_mut();
    headers_out.insert(
        header::LOCATION,
        HeaderValue::from_str(&format!(
            "/admin?lang={}",
            params.get("lang").map_or("", String::as_str)
        ))
        .unwrap_or(HeaderValue::from_static("/admin")),
    );
    if let Ok(cookie) = HeaderValue::from_str(&session::set_cookie(
        &token,
        app.token_ttl_seconds,
        &headers,
    )) {
        headers_out.insert(header::SET_COOKIE, cookie);
    }
    response
}

/// Ends the session.
async fn logout(headers: HeaderMap) -> Response {
    if !session::same_site(&headers) {
        return (
            StatusCode::FORBIDDEN,
            "this form was sent from another site",
        )
            .into_response();
    }
    let mut response = (StatusCode::SEE_OTHER, ()).into_response();
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/admin"));
    if let Ok(cookie) = HeaderValue::from_str(&session::clear_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// The overview as JSON, for the page's script: every pen, or with
/// `?since=VERSION` (the `version` of the last answer) only the pens whose
/// rows changed since and those gone; 401 without an admin's session.
async fn overview_json(
    State(app): State<AppState>,
    params: Params,
    headers: HeaderMap,
) -> Response {
    if session::admin(&app, &headers).await.is_none() {
        return crate::http::ApiError::unauthorized("log in to the control room at /admin")
            .into_response();
    }
    match app.board.snapshot(app.store.as_ref()).await {
        Ok(snapshot) => {
            let delta = snapshot.delta(params.get("since").map(String::as_str));
            let mut response = Json(delta).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => {
            tracing::error!(%error, "the control room's overview failed");
            crate::http::ApiError::from(jcselect_sync::store::StoreError::Config {
                store: "admin",
                message: error.to_string(),
            })
            .into_response()
        }
    }
}

/// When each voter of a pen was marked: the page draws the pen's turnout
/// over the day from it (in the browser's own time zone); 401 without an
/// admin's session.
async fn pen_votes(
    State(app): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(pen): axum::extract::Path<uuid::Uuid>,
) -> Response {
    if session::admin(&app, &headers).await.is_none() {
        return crate::http::ApiError::unauthorized("log in to the control room at /admin")
            .into_response();
    }
    match overview::pen_votes(app.store.as_ref(), pen).await {
        Ok(votes) => Json(votes).into_response(),
        Err(error) => {
            tracing::error!(%error, "a pen's votes could not be read");
            crate::http::ApiError::from(jcselect_sync::store::StoreError::Config {
                store: "admin",
                message: error.to_string(),
            })
            .into_response()
        }
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/admin.js"),
    )
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("assets/admin.css"))
}
