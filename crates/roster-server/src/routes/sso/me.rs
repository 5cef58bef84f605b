//! The signed-in person: `GET /api/v1/me` (JSON), `GET /me` (a page), `POST /sso/logout`.

use super::{cleared_session_cookie, session_token};
use crate::error::ApiError;
use crate::pages;
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use roster_store::directory::users;
use roster_store::sessions::{self, MembershipView};
use serde::Serialize;

#[derive(Serialize)]
pub struct MeUser {
    id: String,
    email: String,
    username: String,
    full_name: String,
}

#[derive(Serialize)]
pub struct MeSession {
    expires_at: String,
}

#[derive(Serialize)]
pub struct Me {
    user: MeUser,
    memberships: Vec<MembershipView>,
    session: MeSession,
}

/// The live session's user and memberships (in the session's company), or `None`.
async fn load(state: &AppState, headers: &HeaderMap) -> Result<Option<Me>, ApiError> {
    let Some(token) = session_token(headers, &state.config) else {
        return Ok(None);
    };
    let now = state.now();
    let me = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let Some(s) = sessions::find_live(db, &token, now).await? else {
                    return Ok(None);
                };
                let user = users::find(db, &s.user_id).await?;
                let memberships = match &s.company_id {
                    Some(company) => sessions::memberships(db, &s.user_id, company).await?,
                    None => Vec::new(),
                };
                Ok(Some((
                    s.id.clone(),
                    s.last_seen_at,
                    Me {
                        user: MeUser {
                            id: user.id,
                            email: user.email,
                            username: user.username,
                            full_name: user.full_name,
                        },
                        memberships,
                        session: MeSession {
                            expires_at: ts(s.expires_at),
                        },
                    },
                )))
            })
        })
        .await?;
    let Some((id, last_seen_at, me)) = me else {
        return Ok(None);
    };
    // The idle timeout counts from the last use, written at most once a minute.
    if now - last_seen_at >= sessions::TOUCH_EVERY_MS {
        state
            .store
            .write(move |db| Box::pin(async move { sessions::touch(db, &id, now).await }))
            .await?;
    }
    Ok(Some(me))
}

fn no_session() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "no_session",
        "sign in first: there is no live session",
    )
}

/// `GET /api/v1/me`.
pub async fn me_json(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let me = load(&state, &headers).await?.ok_or_else(no_session)?;
    Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(me)).into_response())
}

/// `GET /me`: the same, as a page (where a sign-in lands by default).
pub async fn me_page(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let Some(me) = load(&state, &headers).await? else {
        return Ok(pages::respond(StatusCode::UNAUTHORIZED, &pages::NotSignedIn));
    };
    let page = pages::SignedIn {
        full_name: &me.user.full_name,
        email: &me.user.email,
        expires_at: &me.session.expires_at,
        memberships: &me.memberships,
    };
    Ok(pages::respond(StatusCode::OK, &page))
}

/// `POST /sso/logout`: ends the session and clears the cookie.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(token) = session_token(&headers, &state.config) {
        let now = state.now();
        state
            .store
            .write(move |db| Box::pin(async move { sessions::end(db, &token, now).await }))
            .await?;
    }
    let clear = cleared_session_cookie(&state.config);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}
