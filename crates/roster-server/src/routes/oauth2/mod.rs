//! Roster's OpenID Provider, for the company's apps (issuer: the public URL).
//!
//! - `GET /.well-known/openid-configuration` and `GET /oauth2/jwks` (here): what an app
//!   discovers, and the public keys of the tokens it gets (the active key of each
//!   algorithm and, for a day after a rotation, the retired ones).
//! - `authorize`: `/oauth2/authorize`, routing the person to their company's IdP and back.
//! - `token`: `/oauth2/token`, `/oauth2/revoke` (RFC 7009), `/oauth2/introspect`
//!   (RFC 7662), and the client authentication they share.
//! - `userinfo`: `/oauth2/userinfo`.
//! - `logout`: `/oauth2/logout` (RP-initiated logout).
//!
//! Answers to apps are in OAuth 2.0's own error format (`{"error",
//! "error_description"}`); pages for people are Roster's plain pages.

mod authorize;
mod logout;
mod token;
mod userinfo;

use crate::error::ApiError;
use crate::service::oauth2::OAuthError;
use crate::signing_keys;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use std::collections::HashMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery).options(preflight))
        .route("/oauth2/jwks", get(jwks).options(preflight))
        .route("/oauth2/authorize", get(authorize::get).post(authorize::post))
        .route("/oauth2/authorize/resume/{id}", get(authorize::resume))
        .route("/oauth2/token", post(token::token).options(preflight))
        .route("/oauth2/revoke", post(token::revoke).options(preflight))
        .route("/oauth2/introspect", post(token::introspect))
        .route(
            "/oauth2/userinfo",
            get(userinfo::userinfo).post(userinfo::userinfo).options(preflight),
        )
        .route("/oauth2/logout", get(logout::get).post(logout::post))
}

/// CORS for the endpoints a browser app calls directly (discovery, JWKS, token,
/// userinfo, and revoke, which public apps may call): any origin, no cookies. The others
/// (authorize, logout are navigations; introspect is for servers) send none.
fn cors(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("WWW-Authenticate"),
    );
}

async fn preflight() -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    cors(&mut resp);
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type"),
    );
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    resp
}

async fn discovery(State(state): State<AppState>) -> Response {
    let issuer = state.config.public_url.trim_end_matches('/').to_string();
    let at = |path: &str| format!("{issuer}{path}");
    let doc = json!({
        "issuer": issuer,
        "authorization_endpoint": at("/oauth2/authorize"),
        "token_endpoint": at("/oauth2/token"),
        "userinfo_endpoint": at("/oauth2/userinfo"),
        "jwks_uri": at("/oauth2/jwks"),
        "revocation_endpoint": at("/oauth2/revoke"),
        "introspection_endpoint": at("/oauth2/introspect"),
        "end_session_endpoint": at("/oauth2/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "sid", "amr", "idp", "azp",
            "email", "email_verified", "name", "given_name", "family_name", "organizations", "groups"
        ],
        "prompt_values_supported": ["none", "login"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
    });
    let mut resp = ([(header::CACHE_CONTROL, "public, max-age=300")], Json(doc)).into_response();
    cors(&mut resp);
    resp
}

async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    let keys = signing_keys::published(&state).await?;
    let body = json!({ "keys": keys.into_iter().map(|k| k.public_jwk).collect::<Vec<_>>() });
    // Apps may keep it a few minutes: a rotation publishes the new keys a day before
    // anything stops using the old ones.
    let mut resp = ([(header::CACHE_CONTROL, "public, max-age=300")], Json(body)).into_response();
    cors(&mut resp);
    Ok(resp)
}

/// The most parameters one request may carry.
const MAX_PARAMS: usize = 40;

/// A form or query, each parameter at most once (RFC 6749 §3.1, §3.2).
pub(crate) fn parse_form(raw: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        if out.len() >= MAX_PARAMS {
            return Err(OAuthError::new("invalid_request", "too many parameters"));
        }
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(OAuthError::new(
                "invalid_request",
                format!("parameter '{k}' is given more than once"),
            ));
        }
    }
    Ok(out)
}

/// An OAuth 2.0 error answer with `status`, never cached.
pub(crate) fn oauth_error(status: StatusCode, e: &OAuthError) -> Response {
    let mut resp = (
        status,
        [(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")],
        Json(json!({ "error": e.error, "error_description": e.description })),
    )
        .into_response();
    resp.extensions_mut().insert(crate::error::Rendered);
    resp
}

/// Whether the request is a form post (the token, revoke and introspect endpoints take
/// nothing else).
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"))
}

/// The method and a form body's parameters of a request that may be a GET or a POST.
fn params_of(
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<HashMap<String, String>, OAuthError> {
    if method == Method::POST {
        if !is_form(headers) {
            return Err(OAuthError::new(
                "invalid_request",
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        parse_form(body)
    } else {
        parse_form(query.unwrap_or_default().as_bytes())
    }
}
