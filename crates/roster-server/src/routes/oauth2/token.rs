//! `/oauth2/token`, `/oauth2/revoke` (RFC 7009) and `/oauth2/introspect` (RFC 7662):
//! the endpoints an app calls from its server, each authenticating the app first in the
//! way it registered (`client_secret_basic`, `client_secret_post`, or `none` for a public
//! app, whose proof is PKCE).

use super::{cors, is_form, oauth_error, parse_form};
use crate::abuse::ClientIp;
use crate::service::oauth2::{self as service, Failed, OAuthError};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine;
use roster_store::apps::{self, App};
use roster_store::oauth2 as store;
use roster_store::StoreError;
use serde_json::json;
use std::collections::HashMap;

/// Why the app could not be authenticated.
enum ClientFailure {
    /// 401 `invalid_client`; `basic` when it tried HTTP Basic (the answer then
    /// challenges it, RFC 6749 §5.2).
    Invalid {
        why: &'static str,
        basic: bool,
    },
    Malformed(OAuthError),
    Internal(crate::error::Failure),
}

/// The app a request comes from, authenticated as it registered.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<App, ClientFailure> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")));
    let (client_id, secret, method) = match basic {
        Some(b64) => {
            if form.contains_key("client_secret") {
                return Err(ClientFailure::Malformed(OAuthError::new(
                    "invalid_request",
                    "use one way of authenticating: HTTP Basic or client_secret in the form",
                )));
            }
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok());
            let Some((id, secret)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
                return Err(ClientFailure::Invalid {
                    why: "the Basic credentials do not read as client_id:client_secret",
                    basic: true,
                });
            };
            // RFC 6749 §2.3.1: both are form-urlencoded before Basic encoding.
            let decode = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_default()
            };
            (decode(id), Some(decode(secret)), "client_secret_basic")
        }
        None => match (form.get("client_id"), form.get("client_secret")) {
            (Some(id), Some(secret)) => (id.clone(), Some(secret.clone()), "client_secret_post"),
            (Some(id), None) => (id.clone(), None, "none"),
            (None, _) => {
                return Err(ClientFailure::Invalid {
                    why: "the app did not authenticate (client_id is missing)",
                    basic: false,
                })
            }
        },
    };
    let is_basic = method == "client_secret_basic";
    if client_id.is_empty() || client_id.len() > 128 {
        return Err(ClientFailure::Invalid {
            why: "unknown client",
            basic: is_basic,
        });
    }
    let (id, given) = (client_id.clone(), secret.clone());
    let found = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let app = match apps::find(db, &id).await {
                    Ok(app) => app,
                    Err(StoreError::NotFound { .. }) => return Ok(None),
                    Err(e) => return Err(e),
                };
                let ok = match &given {
                    Some(secret) => apps::check_secret(db, &id, secret).await?,
                    None => true,
                };
                Ok(Some((app, ok)))
            })
        })
        .await
        .map_err(|e| ClientFailure::Internal(e.into()))?;
    let invalid = |why| ClientFailure::Invalid { why, basic: is_basic };
    match found {
        None => Err(invalid("unknown client")),
        Some((_, false)) => Err(invalid("the client secret is wrong")),
        Some((app, true)) if app.token_endpoint_auth_method != method => Err(invalid(
            "the app must authenticate the way it is registered (token_endpoint_auth_method)",
        )),
        Some((app, true)) => Ok(app),
    }
}

/// The answer to a failed authentication: 401, or 429 once the client has failed too
/// often.
fn client_failure(state: &AppState, ip: Option<&ClientIp>, f: ClientFailure) -> Response {
    match f {
        ClientFailure::Malformed(e) => oauth_error(StatusCode::BAD_REQUEST, &e),
        ClientFailure::Internal(f) => internal(&f),
        ClientFailure::Invalid { why, basic } => {
            if let Some(ClientIp(ip)) = ip {
                if let Err(too_many) = state.limits.auth_failed(*ip) {
                    return too_many.into_response();
                }
            }
            let mut resp = oauth_error(StatusCode::UNAUTHORIZED, &OAuthError::new("invalid_client", why));
            if basic {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"roster\""),
                );
            }
            resp
        }
    }
}

fn internal(f: &crate::error::Failure) -> Response {
    crate::error::ApiError::from(f.clone()).into_response()
}

/// The request's form, or why it is refused.
fn form_of(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    if !is_form(headers) {
        return Err(OAuthError::new(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    parse_form(body)
}

/// The form of a request from an app, and the app, authenticated; or the answer
/// refusing it.
async fn from_app(
    state: &AppState,
    ip: Option<&ClientIp>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(App, HashMap<String, String>), Box<Response>> {
    let form = form_of(headers, body).map_err(|e| Box::new(oauth_error(StatusCode::BAD_REQUEST, &e)))?;
    match authenticate(state, headers, &form).await {
        Ok(app) => Ok((app, form)),
        Err(f) => Err(Box::new(client_failure(state, ip, f))),
    }
}

/// The `token` parameter of a revocation or introspection request.
fn token_param(form: &HashMap<String, String>) -> Result<String, Box<Response>> {
    form.get("token")
        .filter(|t| !t.is_empty() && t.len() <= 512)
        .cloned()
        .ok_or_else(|| {
            Box::new(oauth_error(
                StatusCode::BAD_REQUEST,
                &OAuthError::new("invalid_request", "token is missing"),
            ))
        })
}

/// `POST /oauth2/token`.
pub async fn token(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut resp = token_answer(&state, ip.as_ref().map(|e| &e.0), &headers, &body).await;
    cors(&mut resp);
    resp
}

async fn token_answer(state: &AppState, ip: Option<&ClientIp>, headers: &HeaderMap, body: &[u8]) -> Response {
    let (app, form) = match from_app(state, ip, headers, body).await {
        Ok(found) => found,
        Err(refused) => return *refused,
    };
    let get = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let done = match get("grant_type") {
        Some("authorization_code") => match get("code") {
            Some(code) => service::exchange_code(state, &app, code, get("redirect_uri"), get("code_verifier")).await,
            None => Err(OAuthError::new("invalid_request", "code is missing").into()),
        },
        Some("refresh_token") => match get("refresh_token") {
            Some(t) => service::refresh(state, &app, t).await,
            None => Err(OAuthError::new("invalid_request", "refresh_token is missing").into()),
        },
        Some("client_credentials") if app.client_type == "confidential" => {
            service::client_credentials(state, &app, get("scope")).await
        }
        Some("client_credentials") => {
            Err(OAuthError::new("unauthorized_client", "a public app cannot use client_credentials").into())
        }
        Some(other) => Err(OAuthError::new(
            "unsupported_grant_type",
            format!("grant_type '{other}' is not offered: authorization_code, refresh_token, client_credentials"),
        )
        .into()),
        None => Err(OAuthError::new("invalid_request", "grant_type is missing").into()),
    };
    match done {
        Ok(t) => {
            let mut body = json!({
                "access_token": t.access_token,
                "token_type": "Bearer",
                "expires_in": t.expires_in,
                "scope": t.scope,
            });
            if let Some(obj) = body.as_object_mut() {
                if let Some(r) = t.refresh_token {
                    obj.insert("refresh_token".into(), json!(r));
                }
                if let Some(i) = t.id_token {
                    obj.insert("id_token".into(), json!(i));
                }
            }
            (
                [(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")],
                Json(body),
            )
                .into_response()
        }
        Err(Failed::OAuth(e)) => oauth_error(StatusCode::BAD_REQUEST, &e),
        Err(Failed::Internal(f)) => internal(&f),
    }
}

/// `POST /oauth2/revoke` (RFC 7009): 200 whether or not the token was known, so that it
/// tells nothing; a refresh token takes its whole grant with it.
pub async fn revoke(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut resp = revoke_answer(&state, ip.as_ref().map(|e| &e.0), &headers, &body).await;
    cors(&mut resp);
    resp
}

async fn revoke_answer(state: &AppState, ip: Option<&ClientIp>, headers: &HeaderMap, body: &[u8]) -> Response {
    let (app, form) = match from_app(state, ip, headers, body).await {
        Ok(found) => found,
        Err(refused) => return *refused,
    };
    let token = match token_param(&form) {
        Ok(t) => t,
        Err(refused) => return *refused,
    };
    let now = state.now();
    let done = state
        .store
        .write(move |db| Box::pin(async move { store::revoke_token(db, &token, &app.id, now).await }))
        .await;
    match done {
        Ok(_) => ([(header::CACHE_CONTROL, "no-store")], StatusCode::OK).into_response(),
        Err(e) => internal(&e.into()),
    }
}

/// `POST /oauth2/introspect` (RFC 7662), for confidential apps: whether a token of
/// theirs is live, and what it grants.
pub async fn introspect(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ip = ip.as_ref().map(|e| &e.0);
    let (app, form) = match from_app(&state, ip, &headers, &body).await {
        Ok(found) => found,
        Err(refused) => return *refused,
    };
    if app.client_type != "confidential" {
        let why = "introspection is for confidential apps";
        return client_failure(&state, ip, ClientFailure::Invalid { why, basic: false });
    }
    let token = match token_param(&form) {
        Ok(t) => t,
        Err(refused) => return *refused,
    };
    let now = state.now();
    let hint_refresh = form.get("token_type_hint").map(String::as_str) == Some("refresh_token");
    let found = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let order = if hint_refresh {
                    ["refresh", "access"]
                } else {
                    ["access", "refresh"]
                };
                for kind in order {
                    if let Some(found) = store::find_token(db, kind, &token, now).await? {
                        let email = match &found.0.user_id {
                            Some(u) => store::member(db, u, &found.0.app_id).await?.map(|m| m.email),
                            None => None,
                        };
                        return Ok(Some((kind, found, email)));
                    }
                }
                Ok(None)
            })
        })
        .await;
    let body = match found {
        Ok(Some((kind, (grant, issued_at, expires_at), email))) if grant.app_id == app.id => {
            let mut b = json!({
                "active": true,
                "scope": grant.scope,
                "client_id": grant.app_id,
                "token_type": if kind == "access" { "Bearer" } else { "refresh_token" },
                "exp": expires_at / 1000,
                "iat": issued_at / 1000,
                "iss": state.config.public_url.trim_end_matches('/'),
                "aud": grant.app_id,
                "sub": grant.user_id.clone().unwrap_or_else(|| grant.app_id.clone()),
            });
            if let (Some(obj), Some(email)) = (b.as_object_mut(), email) {
                obj.insert("username".into(), json!(email));
            }
            if let (Some(obj), Some(sid)) = (b.as_object_mut(), &grant.session_id) {
                obj.insert("sid".into(), json!(sid));
            }
            b
        }
        Ok(_) => json!({ "active": false }),
        Err(e) => return internal(&e.into()),
    };
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}
