//! Sign-in for people: SSO endpoints per connection, routing by email, and the
//! session they yield.
//!
//! - `saml`: SP metadata, the login redirect (AuthnRequest) and the ACS.
//! - `start`: `GET /sso/start?email=` finds the connection by verified domain.
//! - `me`: `GET /api/v1/me` and `/me` for the session's user, `POST /sso/logout`.
//! - `page`: the plain failure page and the error-log entry (E1) behind it.

mod me;
mod page;
pub mod saml;
mod start;

use crate::config::Config;
use crate::state::AppState;
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

pub use page::SsoFailure;

pub const SESSION_COOKIE: &str = "roster_session";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sso/saml/{id}/metadata", get(saml::metadata))
        .route("/sso/saml/{id}/login", get(saml::login))
        .route("/sso/saml/{id}/acs", post(saml::acs))
        .route("/sso/start", get(start::start))
        .route("/sso/logout", post(me::logout))
        .route("/api/v1/me", get(me::me_json))
        .route("/me", get(me::me_page))
}

/// The SP entity id and ACS URL of a SAML connection.
pub fn saml_urls(public_url: &str, connection_id: &str) -> (String, String) {
    let base = format!("{public_url}/sso/saml/{connection_id}");
    (format!("{base}/metadata"), format!("{base}/acs"))
}

/// Where a sign-in may send the browser afterwards: a path on this server, or a URL on
/// an allowlisted origin. Anything else (other hosts, `//host`, `\`, schemes such as
/// `javascript:`) is refused, so the sign-in cannot be used as an open redirect.
pub fn safe_return_to(raw: Option<&str>, config: &Config) -> Result<String, &'static str> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok("/me".to_string());
    };
    if raw.len() > 2048 || raw.chars().any(|c| c.is_control() || c == '\\') {
        return Err("return_to is too long or holds control characters");
    }
    if raw.starts_with('/') && !raw.starts_with("//") {
        return Ok(raw.to_string());
    }
    let url = url::Url::parse(raw).map_err(|_| "return_to must be a path or an allowed URL")?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() || !url.username().is_empty() {
        return Err("return_to must be a path or an allowed URL");
    }
    let origin = url.origin().ascii_serialization();
    let own = url::Url::parse(&config.public_url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    if origin == own || config.return_origins.iter().any(|o| o.trim_end_matches('/') == origin) {
        Ok(url.to_string())
    } else {
        Err("return_to is on an origin that is not allowed")
    }
}

/// The session cookie: `HttpOnly`, `SameSite=Lax`, for the whole site, `Secure` when
/// the public URL is https, living `max_age_secs` (0 clears it).
fn session_cookie_with(value: String, max_age_secs: i64, config: &Config) -> String {
    Cookie::build((SESSION_COOKIE, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(config.public_url.starts_with("https://"))
        .max_age(time::Duration::seconds(max_age_secs.max(0)))
        .build()
        .to_string()
}

/// The `Set-Cookie` value of a new session.
pub fn session_cookie(token: &str, max_age_secs: i64, config: &Config) -> String {
    session_cookie_with(token.to_string(), max_age_secs, config)
}

/// The `Set-Cookie` value that ends the session cookie.
pub fn cleared_session_cookie(config: &Config) -> String {
    session_cookie_with(String::new(), 0, config)
}

/// The session token of the request's cookie, if any.
pub fn session_token(headers: &axum::http::HeaderMap) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(SESSION_COOKIE)
        .map(|c| c.value().trim().to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_is_a_path_or_an_allowed_origin() {
        let mut c = Config::new("sqlite://x", "https://roster.example");
        c.return_origins = vec!["https://app.example".into()];
        let ok = |s: &str| safe_return_to(Some(s), &c);
        assert_eq!(ok("/dash?x=1").unwrap(), "/dash?x=1");
        assert_eq!(safe_return_to(None, &c).unwrap(), "/me");
        assert!(ok("https://app.example/home").is_ok());
        assert!(ok("https://roster.example/x").is_ok());
        for bad in [
            "//evil.example/x",
            "/\\evil.example",
            "https://evil.example/",
            "https://app.example.evil.example/",
            "javascript:alert(1)",
            "https://user@app.example/",
            "http://app.example/",
        ] {
            assert!(ok(bad).is_err(), "{bad} was allowed");
        }
    }
}
