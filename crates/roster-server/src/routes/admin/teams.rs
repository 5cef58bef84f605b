use crate::auth::Admin;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use roster_core::{Name, Source};
use roster_store::directory::teams::{self, Team};
use roster_store::directory::{organizations, users};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, rename, delete))
        .routes(routes!(add_member))
        .routes(routes!(remove_member))
}

#[derive(Serialize, ToSchema)]
pub struct TeamView {
    id: String,
    name: String,
    organization_id: String,
    member_count: i64,
    created_at: String,
}

impl From<Team> for TeamView {
    fn from(t: Team) -> Self {
        Self {
            id: t.id,
            name: t.name,
            organization_id: t.organization_id,
            member_count: t.member_count,
            created_at: ts(t.created_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamBody {
    name: String,
}

/// List an organization's teams.
#[utoipa::path(get, path = "/organizations/{org}/teams", tag = "teams", params(("org" = String, Path, description = "id or name")),
    responses((status = 200, body = [TeamView]), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    Path(org): Path<String>,
) -> Result<ApiJson<Vec<TeamView>>, ApiError> {
    let list = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let org = organizations::find(db, &org).await?;
                teams::list(db, &org).await
            })
        })
        .await?;
    Ok(ApiJson(list.into_iter().map(TeamView::from).collect()))
}

/// Create a team.
#[utoipa::path(post, path = "/organizations/{org}/teams", tag = "teams", params(("org" = String, Path, description = "id or name")),
    request_body = TeamBody, responses((status = 201, body = TeamView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("admin_token" = [])))]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<TeamBody>,
) -> Result<(StatusCode, ApiJson<TeamView>), ApiError> {
    let name = Name::parse_team(&body.name)?;
    let ctx = admin.ctx(&state);
    let team = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let org = organizations::find(db, &org).await?;
                teams::create(db, &ctx, &org, &name).await
            })
        })
        .await?;
    Ok((StatusCode::CREATED, ApiJson(team.into())))
}

/// Read a team (by id or name).
#[utoipa::path(get, path = "/organizations/{org}/teams/{team}", tag = "teams",
    params(("org" = String, Path, description = "id or name"), ("team" = String, Path, description = "id or name")),
    responses((status = 200, body = TeamView), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn get_one(
    State(state): State<AppState>,
    _admin: Admin,
    Path((org, team)): Path<(String, String)>,
) -> Result<ApiJson<TeamView>, ApiError> {
    let team = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let org = organizations::find(db, &org).await?;
                teams::find_counted(db, &org, &team).await
            })
        })
        .await?;
    Ok(ApiJson(team.into()))
}

/// Rename a team.
#[utoipa::path(patch, path = "/organizations/{org}/teams/{team}", tag = "teams",
    params(("org" = String, Path, description = "id or name"), ("team" = String, Path, description = "id or name")),
    request_body = TeamBody, responses((status = 200, body = TeamView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("admin_token" = [])))]
async fn rename(
    State(state): State<AppState>,
    admin: Admin,
    Path((org, team)): Path<(String, String)>,
    ApiJson(body): ApiJson<TeamBody>,
) -> Result<ApiJson<TeamView>, ApiError> {
    let name = Name::parse_team(&body.name)?;
    let ctx = admin.ctx(&state);
    let team = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let org = organizations::find(db, &org).await?;
                teams::rename(db, &ctx, &org, &team, &name).await
            })
        })
        .await?;
    Ok(ApiJson(team.into()))
}

/// Delete a team (its members stay in the organization).
#[utoipa::path(delete, path = "/organizations/{org}/teams/{team}", tag = "teams",
    params(("org" = String, Path, description = "id or name"), ("team" = String, Path, description = "id or name")),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    Path((org, team)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let ctx = admin.ctx(&state);
    state
        .store
        .write(move |db| {
            Box::pin(async move {
                let org = organizations::find(db, &org).await?;
                teams::delete(db, &ctx, &org, &team).await
            })
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamMemberBody {
    /// User id, email or username; must be a member of the organization.
    user: String,
}

/// Add an organization member to a team.
#[utoipa::path(post, path = "/organizations/{org}/teams/{team}/members", tag = "teams",
    params(("org" = String, Path, description = "id or name"), ("team" = String, Path, description = "id or name")),
    request_body = TeamMemberBody,
    responses((status = 201, body = TeamView), (status = 200, body = TeamView, description = "already in the team"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("admin_token" = [])))]
async fn add_member(
    State(state): State<AppState>,
    admin: Admin,
    Path((org, team)): Path<(String, String)>,
    ApiJson(body): ApiJson<TeamMemberBody>,
) -> Result<(StatusCode, ApiJson<TeamView>), ApiError> {
    let ctx = admin.ctx(&state);
    let (added, team) = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let org = organizations::find(db, &org).await?;
                let team = teams::find(db, &org, &team).await?;
                let user = users::find(db, &body.user).await?;
                let added = teams::add_member(db, &ctx, &org, &team, &user.id, Source::Admin.as_str()).await?;
                Ok((added, teams::find_counted(db, &org, &team.id).await?))
            })
        })
        .await?;
    Ok((
        if added { StatusCode::CREATED } else { StatusCode::OK },
        ApiJson(team.into()),
    ))
}

/// Remove a user from a team (they stay in the organization).
#[utoipa::path(delete, path = "/organizations/{org}/teams/{team}/members/{user}", tag = "teams",
    params(("org" = String, Path, description = "id or name"), ("team" = String, Path, description = "id or name"), ("user" = String, Path, description = "id, email or username")),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn remove_member(
    State(state): State<AppState>,
    admin: Admin,
    Path((org, team, user)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let ctx = admin.ctx(&state);
    state
        .store
        .write(move |db| {
            Box::pin(async move {
                let org = organizations::find(db, &org).await?;
                let team = teams::find(db, &org, &team).await?;
                let user = users::find(db, &user).await?;
                teams::remove_member(db, &ctx, &org, &team, &user.id).await
            })
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
