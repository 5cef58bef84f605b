//! The console's session cookie and the [`Viewer`] every console page takes: who is
//! signed in, and what they may see.

use super::Nav;
use crate::state::AppState;
use crate::trace::current_trace_id;
use axum::extract::FromRequestParts;
use axum::http::{request::Parts, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use roster_store::console::{self, ConsoleSession, Holder};
use roster_store::Ctx;

/// How long a console session lasts.
pub const LIFETIME_MS: i64 = 8 * 3_600_000;

/// The cookie's name: `__Host-` (no Domain, Path=/, Secure) when the public URL is
/// https. Apart from the sign-in session's cookie, and `SameSite=Strict`.
fn cookie_name(https: bool) -> &'static str {
    if https {
        "__Host-roster_console"
    } else {
        "roster_console"
    }
}

fn https(state: &AppState) -> bool {
    state.config.public_url.starts_with("https://")
}

/// The `Set-Cookie` value of a console session (`max_age_secs` 0 clears it).
pub fn cookie(state: &AppState, token: &str, max_age_secs: i64) -> String {
    Cookie::build((cookie_name(https(state)), token.to_string()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(https(state))
        .max_age(time::Duration::seconds(max_age_secs.max(0)))
        .build()
        .to_string()
}

/// The console token a request carries.
pub fn token(state: &AppState, headers: &HeaderMap) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(cookie_name(https(state)))
        .map(|c| c.value().trim().to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// Who is signed in to the console.
pub struct Viewer {
    pub session: ConsoleSession,
}

impl Viewer {
    /// The company an owner is limited to; `None` for the operator (every company).
    pub fn company(&self) -> Option<&str> {
        match &self.session.holder {
            Holder::Operator { .. } => None,
            Holder::Owner { company_id, .. } => Some(company_id),
        }
    }

    pub fn is_operator(&self) -> bool {
        self.company().is_none()
    }

    /// Whether an object of `company_id` is the viewer's to see.
    pub fn sees(&self, company_id: &str) -> bool {
        self.company().is_none_or(|c| c == company_id)
    }

    /// The audit context of a change made through the console now: the admin token's
    /// for the operator, the owner's own for an owner.
    pub fn ctx(&self, state: &AppState) -> Ctx {
        let (kind, id) = match &self.session.holder {
            Holder::Operator { admin_token_id } => ("admin", admin_token_id.clone()),
            Holder::Owner { user_id, .. } => ("owner", user_id.clone()),
        };
        Ctx::new(kind, Some(id), current_trace_id(), state.now())
    }

    pub fn nav(&self, current: &'static str, who: &str) -> Nav {
        Nav {
            current,
            operator: self.is_operator(),
            who: who.to_string(),
            csrf: self.session.csrf.clone(),
        }
    }

    /// The operator entered the admin token within the last five minutes (asked again
    /// before destructive actions). Owners signed in through their IdP just now.
    pub fn recently_authenticated(&self, now: i64) -> bool {
        now - self.session.reauth_at < 5 * 60_000
    }
}

/// No console session: to the sign-in page, and back here afterwards.
pub struct SignIn(String);

impl IntoResponse for SignIn {
    fn into_response(self) -> Response {
        Redirect::to(&format!("/admin/login?next={}", super::q(&self.0))).into_response()
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let here = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .filter(|_| parts.method == axum::http::Method::GET)
            .unwrap_or_else(|| "/admin".into());
        let Some(token) = token(state, &parts.headers) else {
            return Err(SignIn(here).into_response());
        };
        let now = state.now();
        let found = state
            .store
            .read(move |db| Box::pin(async move { console::find(db, &token, now).await }))
            .await
            .map_err(|e| super::Problem::from(e).into_response())?;
        match found {
            Some(session) => Ok(Viewer { session }),
            None => Err(SignIn(here).into_response()),
        }
    }
}
