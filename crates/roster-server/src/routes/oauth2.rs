//! Roster's OpenID Provider, for the company's apps: `GET /oauth2/jwks`, the public keys
//! the tokens it issues are signed with (the active key of each algorithm and, for a
//! day after a rotation, the retired ones).

use crate::error::ApiError;
use crate::signing_keys;
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new().route("/oauth2/jwks", get(jwks))
}

async fn jwks(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let keys = signing_keys::published(&state).await?;
    let body = json!({ "keys": keys.into_iter().map(|k| k.public_jwk).collect::<Vec<_>>() });
    Ok((
        [
            // Apps read it from any origin, and may keep it a few minutes: a rotation
            // publishes the new keys a day before anything stops using the old ones.
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        Json(body),
    ))
}
