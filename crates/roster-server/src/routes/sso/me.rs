//! The signed-in person: `GET /api/v1/me` (JSON), `GET /me` (a page), `POST /sso/logout`.

use super::page::escape_html;
use super::{session_token, SESSION_COOKIE};
use crate::error::ApiError;
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
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
    let Some(token) = session_token(headers) else {
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
                Ok(Some(Me {
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
                }))
            })
        })
        .await?;
    Ok(me)
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
        let mut r = (
            StatusCode::UNAUTHORIZED,
            Html("<!doctype html><html><body><h1>Not signed in</h1><p>Sign in through your company's SSO.</p></body></html>\n"),
        )
            .into_response();
        r.extensions_mut().insert(crate::error::Rendered);
        return Ok(r);
    };
    let mut rows = String::new();
    for m in &me.memberships {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_html(&m.organization),
            escape_html(&m.role),
            escape_html(&m.state),
            escape_html(&m.teams.join(", "))
        ));
    }
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Signed in</title></head><body>\
         <h1>Signed in as {}</h1><p>{} · session until {}</p>\
         <table><tr><th>Organization</th><th>Role</th><th>State</th><th>Teams</th></tr>{rows}</table></body></html>\n",
        escape_html(&me.user.full_name),
        escape_html(&me.user.email),
        escape_html(&me.session.expires_at),
    );
    Ok(([(header::CACHE_CONTROL, "no-store")], Html(body)).into_response())
}

/// `POST /sso/logout`: ends the session and clears the cookie.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(token) = session_token(&headers) {
        let now = state.now();
        state
            .store
            .write(move |db| Box::pin(async move { sessions::end(db, &token, now).await }))
            .await?;
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}
