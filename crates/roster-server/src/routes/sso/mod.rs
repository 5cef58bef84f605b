//! Sign-in for people: SSO endpoints per connection, routing by email, and the
//! session they yield.
//!
//! - `saml`: SP metadata, the login redirect (AuthnRequest) and the ACS.
//! - `oidc`: the login redirect (authorization code flow with PKCE) and the callback.
//! - `start`: `GET /sso/start?email=` finds the connection by verified domain.
//! - `me`: `GET /api/v1/me` and `/me` for the session's user, `POST /sso/logout`.
//! - `page`: the plain failure page and the error-log entry (E1) behind it.

mod me;
pub mod oidc;
mod page;
pub mod saml;
mod start;

use crate::config::Config;
use crate::state::AppState;
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

pub use page::SsoFailure;

/// A verified sign-in arriving from the IdP, whichever the protocol.
pub struct Arrival {
    /// The end the IdP set for the session, if any (SAML `SessionNotOnOrAfter`).
    pub idp_not_after: Option<i64>,
    /// Where the browser goes once signed in.
    pub return_to: String,
    /// The `Set-Cookie` that clears the request's binding cookie, used up now.
    pub spent_binding: Option<String>,
    /// The values behind the decision, for the error log.
    pub described: String,
}

/// Signs the person of `facts` in through `c` and starts their session, as every protocol
/// does once the IdP's answer is verified: plan and apply (J10: a denied sign-in changes
/// nothing), then 303 to where they were going with the session cookie.
pub async fn complete(
    state: &AppState,
    c: &roster_store::connections::Connection,
    facts: roster_core::signin::SignInFacts,
    headers: &axum::http::HeaderMap,
    arrival: Arrival,
) -> Result<axum::response::Response, SsoFailure> {
    use crate::service::sign_in::{self, Outcome};
    use axum::http::{header, HeaderValue, StatusCode};
    use axum::response::IntoResponse;
    let now = state.now();
    let ctx = roster_store::Ctx::new(
        "sso",
        Some(facts.email.value.as_str().to_string()),
        crate::trace::current_trace_id(),
        now,
    );
    let connection = c.clone();
    let browser = sign_in::Browser {
        idp_not_after: arrival.idp_not_after,
        previous_session: session_token(headers, &state.config),
        idle_timeout_ms: Some(i64::from(state.config.session_idle_minutes) * 60_000),
    };
    let outcome = state
        .store
        .write(move |db| Box::pin(async move { sign_in::sign_in(db, &ctx, &connection, &facts, &browser).await }))
        .await
        .map_err(SsoFailure::store)?;
    match outcome {
        Outcome::Denied(denied) => Err(SsoFailure::denied(&denied.denial, arrival.described)),
        Outcome::Allowed { session, token, .. } => {
            let cookie = session_cookie(&token, (session.expires_at - now) / 1000, &state.config);
            let mut resp = (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, arrival.return_to),
                    (header::SET_COOKIE, cookie),
                    (header::CACHE_CONTROL, "no-store".into()),
                ],
            )
                .into_response();
            if let Some(clear) = arrival.spent_binding.and_then(|c| HeaderValue::from_str(&c).ok()) {
                resp.headers_mut().append(header::SET_COOKIE, clear);
            }
            Ok(resp)
        }
    }
}

/// The session cookie's name; `__Host-` (no Domain, Path=/, Secure) when the public URL
/// is https.
pub fn session_cookie_name(config: &Config) -> &'static str {
    if config.public_url.starts_with("https://") {
        "__Host-roster_session"
    } else {
        "roster_session"
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sso/saml/{id}/metadata", get(saml::metadata))
        .route("/sso/saml/{id}/login", get(saml::login))
        .route("/sso/saml/{id}/acs", post(saml::acs))
        .route("/sso/oidc/{id}/login", get(oidc::login))
        .route("/sso/oidc/{id}/callback", get(oidc::callback))
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
    Cookie::build((session_cookie_name(config), value))
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

/// How the IdP brings the browser back: a cross-site POST (SAML's ACS) or a top-level
/// GET redirect (OIDC's callback).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Return {
    CrossSitePost,
    Redirect,
}

/// The cookie binding a pending SP-initiated sign-in to the browser that started it, one
/// per request (two tabs may sign in at once): named after the request, `HttpOnly`, ten
/// minutes. On https it is `__Host-` and `Secure`, with `SameSite=None` when the IdP
/// posts the response back cross-site (SAML) and `Lax` when it redirects (OIDC); on
/// plain http (local use) it carries none of these.
fn request_cookie_with(request_id: &str, value: String, max_age_secs: i64, back: Return, config: &Config) -> String {
    let https = config.public_url.starts_with("https://");
    let mut cookie = Cookie::build((request_cookie_name(request_id, https), value))
        .path("/")
        .http_only(true)
        .max_age(time::Duration::seconds(max_age_secs.max(0)));
    if https {
        let same_site = match back {
            Return::CrossSitePost => SameSite::None,
            Return::Redirect => SameSite::Lax,
        };
        cookie = cookie.secure(true).same_site(same_site);
    }
    cookie.build().to_string()
}

fn request_cookie_name(request_id: &str, https: bool) -> String {
    let prefix = if https { "__Host-" } else { "" };
    format!("{prefix}roster_sso{request_id}")
}

/// The `Set-Cookie` value binding request `request_id` to this browser.
pub fn request_cookie(request_id: &str, secret: &str, max_age_secs: i64, back: Return, config: &Config) -> String {
    request_cookie_with(request_id, secret.to_string(), max_age_secs, back, config)
}

/// The `Set-Cookie` value that ends request `request_id`'s binding cookie.
pub fn cleared_request_cookie(request_id: &str, back: Return, config: &Config) -> String {
    request_cookie_with(request_id, String::new(), 0, back, config)
}

/// The secret of the browser's binding cookie for request `request_id`, if it sent one.
pub fn request_binding(headers: &axum::http::HeaderMap, request_id: &str, config: &Config) -> Option<String> {
    let name = request_cookie_name(request_id, config.public_url.starts_with("https://"));
    CookieJar::from_headers(headers)
        .get(&name)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// The session token of the request's cookie, if any.
pub fn session_token(headers: &axum::http::HeaderMap, config: &Config) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(session_cookie_name(config))
        .map(|c| c.value().trim().to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_binding_cookie_is_host_only_and_cross_site_on_https_only() {
        let https = Config::new("sqlite://x", "https://roster.example");
        let c = request_cookie("_abc", "s3cret", 600, Return::CrossSitePost, &https);
        for attr in [
            "__Host-roster_sso_abc=s3cret",
            "HttpOnly",
            "Secure",
            "SameSite=None",
            "Path=/",
            "Max-Age=600",
        ] {
            assert!(c.contains(attr), "{attr} in {c}");
        }
        let http = Config::new("sqlite://x", "http://127.0.0.1:8080");
        let c = request_cookie("_abc", "s3cret", 600, Return::CrossSitePost, &http);
        assert!(c.starts_with("roster_sso_abc=s3cret"), "{c}");
        for attr in ["Secure", "SameSite", "__Host-"] {
            assert!(!c.contains(attr), "{attr} in {c}");
        }
        let lax = request_cookie("_abc", "s3cret", 600, Return::Redirect, &https);
        assert!(
            lax.contains("SameSite=Lax") && lax.contains("__Host-") && lax.contains("Secure"),
            "{lax}"
        );
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            "other=1; __Host-roster_sso_abc=s3cret".parse().unwrap(),
        );
        assert_eq!(request_binding(&headers, "_abc", &https).as_deref(), Some("s3cret"));
        assert_eq!(request_binding(&headers, "_abc", &http), None);
        assert_eq!(request_binding(&headers, "_other", &https), None);
    }

    #[test]
    fn the_session_cookie_is_host_only_on_https() {
        let https = Config::new("sqlite://x", "https://roster.example");
        let c = session_cookie("tok", 60, &https);
        for attr in [
            "__Host-roster_session=tok",
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/",
        ] {
            assert!(c.contains(attr), "{attr} in {c}");
        }
        let http = Config::new("sqlite://x", "http://127.0.0.1:8080");
        assert!(session_cookie("tok", 60, &http).starts_with("roster_session=tok"));
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            "roster_session=a; __Host-roster_session=b".parse().unwrap(),
        );
        assert_eq!(session_token(&headers, &https).as_deref(), Some("b"));
        assert_eq!(session_token(&headers, &http).as_deref(), Some("a"));
    }

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
