//! The control room's session: the same log-in as the API, kept in a
//! cookie the page's script cannot read (`HttpOnly`), sent only by pages
//! of this site (`SameSite=Strict`) and only to `/admin`; a form posted
//! from another site is refused by its `Origin` (or `Sec-Fetch-Site`).

use axum::http::{header, HeaderMap};
use jcselect_sync::auth::{Principal, Role};

use crate::http::AppState;

/// The cookie's name.
pub const COOKIE: &str = "jcselect_admin";

/// The `Set-Cookie` value of a session holding `token` for `max_age`
/// seconds (`Secure` when the request came over HTTPS through a proxy).
pub fn set_cookie(token: &str, max_age: u64, headers: &HeaderMap) -> String {
    let secure = if forwarded_https(headers) {
        "; Secure"
    } else {
        ""
    };
    format!("{COOKIE}={token}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

/// The `Set-Cookie` value that ends the session.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0")
}

fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// The session's token, if the request carries one.
fn token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// The admin the session names, checked as every API request is (a user
/// disabled, removed or no longer an admin is refused at once), and the
/// user name.
pub async fn admin(app: &AppState, headers: &HeaderMap) -> Option<(Principal, String)> {
    let (claimed, username) = app.tokens.verify_claims(token(headers)?).ok()?;
    let principal = crate::users::current_principal(app.store.as_ref(), &claimed, &username)
        .await
        .map_err(|error| tracing::warn!(%error, "checking an admin session failed"))
        .ok()??;
    (principal.role == Role::Admin).then_some((principal, username))
}

/// Whether a form post comes from a page of this site: its `Origin` names
/// the host it was sent to, or the browser says so (`Sec-Fetch-Site`);
/// a post saying neither (an old browser, a script) is let through, since
/// the cookie's `SameSite=Strict` already keeps other sites' posts out.
pub fn same_site(headers: &HeaderMap) -> bool {
    let text = |name: header::HeaderName| headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(site) = headers
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok())
    {
        if !matches!(site, "same-origin" | "none") {
            return false;
        }
    }
    match (text(header::ORIGIN), text(header::HOST)) {
        (Some(origin), Some(host)) => {
            let origin_host = origin
                .split_once("://")
                .map_or(origin, |(_, rest)| rest)
                .trim_end_matches('/');
            origin_host.eq_ignore_ascii_case(host)
        }
        (Some(_), None) => false,
        (None, _) => true,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn a_post_from_another_site_is_refused() {
        use super::same_site;
        assert!(same_site(&headers(&[
            ("host", "centre:8000"),
            ("origin", "http://centre:8000")
        ])));
        assert!(!same_site(&headers(&[
            ("host", "centre:8000"),
            ("origin", "http://evil.example")
        ])));
        assert!(!same_site(&headers(&[
            ("host", "centre:8000"),
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(same_site(&headers(&[("host", "centre:8000")])));
    }

    #[test]
    fn the_cookie_is_found_among_others_and_flagged() {
        let map = headers(&[("cookie", "a=1; jcselect_admin=tok.en; b=2")]);
        assert_eq!(super::token(&map), Some("tok.en"));
        let set = super::set_cookie("t", 60, &headers(&[("x-forwarded-proto", "https")]));
        for flag in [
            "HttpOnly",
            "SameSite=Strict",
            "Path=/admin",
            "Max-Age=60",
            "Secure",
        ] {
            assert!(set.contains(flag), "{set}");
        }
    }
}
