//! `/oauth2/logout`: RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). The
//! app sends the person here, with the ID token it holds as `id_token_hint`; Roster ends
//! their session (which ends what every app was granted through it, and tells the apps
//! that asked by back-channel logout), then sends them to the app's
//! `post_logout_redirect_uri` — only one the app registered. Unless the hint names the
//! browser's own session, Roster asks the person first (a POST from its own page: a link
//! or a cross-site form cannot sign anyone out).

use super::params_of;
use crate::pages;
use crate::routes::sso::{cleared_session_cookie, session_token};
use crate::signing_keys;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use roster_oidc::grant;
use roster_store::apps;
use roster_store::sessions;
use serde_json::Value;
use std::collections::HashMap;

pub async fn get(State(state): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    logout(&state, &headers, &Method::GET, q.as_deref(), &[]).await
}

pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    logout(&state, &headers, &Method::POST, None, &body).await
}

fn page(status: StatusCode, message: &str) -> Response {
    pages::respond(status, &pages::SignInFailed { message })
}

/// The app (`aud`) and session (`sid`) an `id_token_hint` names, if Roster signed it
/// (it may have expired: it only says who asks).
async fn hint(state: &AppState, token: &str) -> Option<(String, Option<String>)> {
    let jwks = signing_keys::own_jwks(state).await.ok()?;
    let claims = roster_oidc::verify_signature(token, &jwks).ok()?;
    if claims.get("iss").and_then(Value::as_str) != Some(state.config.public_url.trim_end_matches('/')) {
        return None;
    }
    let aud = claims.get("aud").and_then(Value::as_str)?.to_string();
    let sid = claims.get("sid").and_then(Value::as_str).map(str::to_string);
    Some((aud, sid))
}

async fn logout(state: &AppState, headers: &HeaderMap, method: &Method, query: Option<&str>, body: &[u8]) -> Response {
    let params: HashMap<String, String> = match params_of(method, query, headers, body) {
        Ok(p) => p,
        Err(e) => return page(StatusCode::BAD_REQUEST, &e.description),
    };
    let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let hinted = match get("id_token_hint") {
        Some(t) => match hint(state, t).await {
            Some(h) => Some(h),
            None => {
                return page(
                    StatusCode::BAD_REQUEST,
                    "The app's id_token_hint is not a token Roster issued.",
                )
            }
        },
        None => None,
    };
    let client_id = match (get("client_id"), &hinted) {
        (Some(c), Some((aud, _))) if c != aud => {
            return page(
                StatusCode::BAD_REQUEST,
                "client_id and id_token_hint name different apps.",
            )
        }
        (Some(c), _) => Some(c.to_string()),
        (None, Some((aud, _))) => Some(aud.clone()),
        (None, None) => None,
    };
    // Where to send the person afterwards: only a URI the app registered.
    let redirect = match get("post_logout_redirect_uri") {
        Some(uri) => {
            let Some(client_id) = client_id.clone() else {
                return page(
                    StatusCode::BAD_REQUEST,
                    "post_logout_redirect_uri needs id_token_hint or client_id to say which app it is.",
                );
            };
            let found = state
                .store
                .read(move |db| Box::pin(async move { apps::find(db, &client_id).await }))
                .await;
            match found {
                Ok(app) if app.post_logout_redirect_uris.iter().any(|u| u == uri) => {
                    let mut ps = Vec::new();
                    if let Some(s) = get("state") {
                        ps.push(("state", s));
                    }
                    Some(grant::answer_url(uri, &ps))
                }
                Ok(_) | Err(roster_store::StoreError::NotFound { .. }) => {
                    return page(
                        StatusCode::BAD_REQUEST,
                        "The app asked to send you to an address it has not registered for after sign-out (post_logout_redirect_uri).",
                    )
                }
                Err(e) => return crate::error::ApiError::from(e).into_response(),
            }
        }
        None => None,
    };
    // The browser's session, if any; it ends without asking only when the hint names
    // it, or when the person confirmed on Roster's page (a POST, which the session
    // cookie accompanies from Roster's own origin only: SameSite=Lax).
    let token = session_token(headers, &state.config);
    let now = state.now();
    let live = match token.clone() {
        Some(t) => state
            .store
            .read(move |db| Box::pin(async move { sessions::find_live(db, &t, now).await }))
            .await
            .map_err(crate::error::ApiError::from),
        None => Ok(None),
    };
    let live = match live {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let named = matches!((&hinted, &live), (Some((_, Some(sid))), Some(s)) if *sid == s.id);
    let confirmed = method == Method::POST && get("confirm") == Some("yes");
    if live.is_some() && !named && !confirmed {
        let fields: Vec<(String, String)> = ["client_id", "post_logout_redirect_uri", "state"]
            .iter()
            .filter_map(|k| match (*k, &client_id) {
                ("client_id", Some(c)) => Some(((*k).to_string(), c.clone())),
                _ => get(k).map(|v| ((*k).to_string(), v.to_string())),
            })
            .collect();
        return pages::respond(StatusCode::OK, &pages::ConfirmLogout { fields: &fields });
    }
    if let (Some(token), Some(_)) = (token, live) {
        let ended = state
            .store
            .write(move |db| Box::pin(async move { sessions::end(db, &token, now).await }))
            .await;
        match ended {
            Ok(true) => state.logouts_queued.notify_one(),
            Ok(false) => {}
            Err(e) => return crate::error::ApiError::from(e).into_response(),
        }
    }
    let mut resp = match redirect {
        Some(to) => (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response(),
        None => pages::respond(StatusCode::OK, &pages::SignedOut),
    };
    if let Ok(v) = HeaderValue::from_str(&cleared_session_cookie(&state.config)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
