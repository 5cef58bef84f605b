//! `POST /api/v1/oauth2/keys/rotate`: new signing keys for the tokens Roster issues.

use crate::auth::Admin;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::signing_keys;
use crate::state::AppState;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(rotate))
}

#[derive(Serialize, ToSchema)]
pub struct Rotation {
    /// The new keys' ids (`kid`), one per algorithm, signing from now on.
    active: Vec<String>,
    /// The keys they replace, still published for a day so that tokens they signed
    /// verify until they expire.
    retired: Vec<String>,
}

/// Rotate the keys Roster signs the tokens it issues with.
#[utoipa::path(post, path = "/oauth2/keys/rotate", tag = "apps",
    responses((status = 200, body = Rotation), (status = 401, body = ErrorBody)), security(("admin_token" = [])))]
async fn rotate(State(state): State<AppState>, admin: Admin) -> Result<ApiJson<Rotation>, ApiError> {
    let (active, retired) = signing_keys::rotate(&state, admin.ctx(&state)).await?;
    Ok(ApiJson(Rotation { active, retired }))
}
