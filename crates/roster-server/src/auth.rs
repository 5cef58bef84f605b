//! Admin authentication. Holding an [`Admin`] is the proof that the request carried a
//! valid admin token: admin handlers take one, so a handler that forgot the check does
//! not compile.

use crate::abuse::ClientIp;
use crate::error::ApiError;
use crate::state::AppState;
use crate::trace::current_trace_id;
use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use roster_store::{tokens, Ctx};

pub struct Admin {
    token_id: String,
}

impl Admin {
    /// The audit context of a change made by this admin now.
    pub fn ctx(&self, state: &AppState) -> Ctx {
        Ctx::new("admin", Some(self.token_id.clone()), current_trace_id(), state.now())
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= 512).then(|| token.to_string())
}

/// A bearer token, or — as some IdPs send it — the bare token without the `Bearer` word.
pub fn bearer_or_bare(parts: &Parts) -> Option<String> {
    if let Some(t) = bearer(parts) {
        return Some(t);
    }
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    (!value.is_empty() && !value.contains(' ') && value.len() <= 512).then(|| value.to_string())
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let found = match bearer(parts) {
            Some(token) => {
                state
                    .store
                    .read(move |db| Box::pin(async move { tokens::verify_admin(db, &token).await }))
                    .await?
            }
            None => None,
        };
        match found {
            Some(token_id) => Ok(Admin { token_id }),
            // Failed authentications are limited per client (abuse limits).
            None => Err(match parts.extensions.get::<ClientIp>() {
                Some(ClientIp(ip)) => match state.limits.auth_failed(*ip) {
                    Ok(()) => ApiError::unauthorized(),
                    Err(t) => ApiError::too_many(t),
                },
                None => ApiError::unauthorized(),
            }),
        }
    }
}
