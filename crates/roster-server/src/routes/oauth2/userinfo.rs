//! `/oauth2/userinfo`: the person an access token was issued for, as the directory has
//! them now (their active memberships in the app's organizations).

use super::{cors, is_form, parse_form};
use crate::service::oauth2 as service;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use roster_oidc::grant;
use roster_store::oauth2 as store;

/// 401 (or 400) with the bearer challenge of RFC 6750 §3.
fn challenge(status: StatusCode, error: &str, description: &str) -> Response {
    let mut resp = (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({ "error": error, "error_description": description })),
    )
        .into_response();
    let value = format!("Bearer realm=\"roster\", error=\"{error}\", error_description=\"{description}\"");
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp.extensions_mut().insert(crate::error::Rendered);
    resp
}

/// The access token of the request: the `Authorization: Bearer` header, or (POST) the
/// `access_token` form field — one of them.
fn bearer(method: &Method, headers: &HeaderMap, body: &[u8]) -> Result<Option<String>, &'static str> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_string());
    let form = if method == Method::POST && is_form(headers) {
        parse_form(body)
            .map_err(|_| "the form repeats a parameter or has too many")?
            .remove("access_token")
    } else {
        None
    };
    match (header, form) {
        (Some(_), Some(_)) => Err("send the access token one way only"),
        (h, f) => Ok(h.or(f).filter(|t| !t.is_empty() && t.len() <= 512)),
    }
}

pub async fn userinfo(State(state): State<AppState>, method: Method, headers: HeaderMap, body: Bytes) -> Response {
    let mut resp = answer(&state, &method, &headers, &body).await;
    cors(&mut resp);
    resp
}

async fn answer(state: &AppState, method: &Method, headers: &HeaderMap, body: &[u8]) -> Response {
    let token = match bearer(method, headers, body) {
        Ok(Some(t)) => t,
        Ok(None) => {
            let mut resp = (StatusCode::UNAUTHORIZED, [(header::CACHE_CONTROL, "no-store")]).into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"roster\""),
            );
            resp.extensions_mut().insert(crate::error::Rendered);
            return resp;
        }
        Err(why) => return challenge(StatusCode::BAD_REQUEST, "invalid_request", why),
    };
    let now = state.now();
    let found = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let Some((grant, _, _)) = store::find_token(db, "access", &token, now).await? else {
                    return Ok(Err("the access token is unknown, expired or revoked"));
                };
                let Some(user_id) = grant.user_id else {
                    return Ok(Err("the access token is the app's own, not a person's"));
                };
                match service::person(db, &user_id, &grant.app_id).await? {
                    Some(p) => Ok(Ok(p)),
                    None => Ok(Err(
                        "the person is no longer an active member of this app's organizations",
                    )),
                }
            })
        })
        .await;
    match found {
        Ok(Ok(person)) => (
            [(header::CACHE_CONTROL, "no-store")],
            Json(grant::person_claims(&person)),
        )
            .into_response(),
        Ok(Err(why)) => challenge(StatusCode::UNAUTHORIZED, "invalid_token", why),
        Err(e) => crate::error::ApiError::from(e).into_response(),
    }
}
