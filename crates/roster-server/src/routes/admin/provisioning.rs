//! The mapping playground and the access explanation.
//!
//! - `POST /connections/{id}/preview`: what a sign-in with these attributes would do —
//!   the real planner on the real directory, changing nothing.
//! - `GET /organizations/{org}/members/{user}/explain`: why a member has their
//!   membership, role, state and teams, from the audit trail.

use crate::auth::Admin;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::service::explain::{self, Explanation};
use crate::service::preview::{self, PreviewRequest, PreviewView};
use crate::state::AppState;
use axum::extract::{Path, State};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(preview)).routes(routes!(explain))
}

/// Preview a sign-in: paste what the IdP sends and see what Roster would do. Changes nothing.
#[utoipa::path(post, path = "/connections/{id}/preview", tag = "provisioning", params(("id" = String, Path, description = "connection id or name")),
    request_body = PreviewRequest,
    responses((status = 200, body = PreviewView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn preview(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PreviewRequest>,
) -> Result<ApiJson<PreviewView>, ApiError> {
    Ok(ApiJson(preview::preview(&state, id, body, None).await?))
}

/// Why does this user have this membership, role, state and these teams?
#[utoipa::path(get, path = "/organizations/{org}/members/{user}/explain", tag = "provisioning",
    params(("org" = String, Path, description = "id or name"), ("user" = String, Path, description = "id, email or username")),
    responses((status = 200, body = Explanation), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn explain(
    State(state): State<AppState>,
    _admin: Admin,
    Path((org, user)): Path<(String, String)>,
) -> Result<ApiJson<Explanation>, ApiError> {
    Ok(ApiJson(explain::explain(&state, org, user, None).await?))
}
