//! Admin authentication. Holding an [`Admin`] is the proof that the request carried a
//! valid admin token: admin handlers take one, so a handler that forgot the check does
//! not compile.

use crate::abuse::ClientIp;
use crate::error::ApiError;
use crate::state::AppState;
use crate::trace::current_trace_id;
use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use roster_store::directory::view::Scope;
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

/// Who reads the directory or the events: the admin, an API key, or an app's
/// `client_credentials` token; the last two only with the scope the call needs, and
/// never for anything else.
pub struct Reader {
    /// The scopes held; `None`: every one (the admin).
    scopes: Option<Vec<String>>,
    pub reach: Scope,
}

impl Reader {
    /// Refuses a reader without `scope` (403).
    pub fn require(&self, scope: &str) -> Result<(), ApiError> {
        match &self.scopes {
            Some(s) if !s.iter().any(|h| h == scope) => Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("this credential does not hold the {scope} scope"),
            )),
            _ => Ok(()),
        }
    }
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let now = state.now();
        let found = match bearer(parts) {
            Some(token) => {
                state
                    .store
                    .read(move |db| {
                        Box::pin(async move {
                            if token.starts_with("rk_") {
                                return Ok(roster_store::api_keys::verify(db, &token).await?.map(|k| Reader {
                                    scopes: Some(k.scopes),
                                    reach: if k.organizations.is_empty() {
                                        Scope::All
                                    } else {
                                        Scope::Organizations(k.organizations)
                                    },
                                }));
                            }
                            if tokens::verify_admin(db, &token).await?.is_some() {
                                return Ok(Some(Reader {
                                    scopes: None,
                                    reach: Scope::All,
                                }));
                            }
                            // An app's own access token (client_credentials): not a person's.
                            Ok(roster_store::oauth2::find_token(db, "access", &token, now)
                                .await?
                                .filter(|(g, _, _)| g.user_id.is_none())
                                .map(|(g, _, _)| Reader {
                                    scopes: Some(g.scope.split(' ').map(str::to_string).collect()),
                                    reach: Scope::Company(g.company_id),
                                }))
                        })
                    })
                    .await?
            }
            None => None,
        };
        match found {
            Some(reader) => Ok(reader),
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
