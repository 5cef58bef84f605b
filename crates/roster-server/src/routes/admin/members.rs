use super::page_limit;
use crate::auth::Admin;
use crate::error::{ApiError, ApiJson, ApiQuery, ErrorBody};
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use roster_core::{Email, MemberState, Role, Source};
use roster_store::directory::members::{self, Member};
use roster_store::directory::organizations;
use roster_store::directory::users::Profile;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(routes!(get_one, update, remove))
}

#[derive(Serialize, ToSchema)]
pub struct MemberView {
    user_id: String,
    email: String,
    username: String,
    full_name: String,
    #[schema(value_type = String, example = "member")]
    role: Role,
    #[schema(value_type = String, example = "active")]
    state: MemberState,
    #[schema(value_type = String, example = "admin")]
    source: Source,
    teams: Vec<String>,
    created_at: String,
    updated_at: String,
}

impl From<Member> for MemberView {
    fn from(m: Member) -> Self {
        Self {
            user_id: m.user_id,
            email: m.email,
            username: m.username,
            full_name: m.full_name,
            role: m.role,
            state: m.state,
            source: m.source,
            teams: m.teams,
            created_at: ts(m.created_at),
            updated_at: ts(m.updated_at),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Page size (default 1000, at most 5000).
    limit: Option<u32>,
    /// Continue after this user id (the `x-next-cursor` header of the previous page).
    after: Option<String>,
}

/// List an organization's members with their teams, ordered by user id.
#[utoipa::path(get, path = "/organizations/{org}/members", tag = "members", params(("org" = String, Path, description = "id or name"), ListQuery),
    responses((status = 200, body = [MemberView], headers(("x-next-cursor" = String, description = "present when more members follow"))),
    (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    Path(org): Path<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<(HeaderMap, ApiJson<Vec<MemberView>>), ApiError> {
    let limit = page_limit(q.limit, 1000, 5000);
    let page = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let org = organizations::find(db, &org).await?;
                members::list(db, &org, q.after.as_deref(), limit).await
            })
        })
        .await?;
    let mut headers = HeaderMap::new();
    if page.len() as i64 == limit {
        if let Some(v) = page.last().and_then(|m| HeaderValue::from_str(&m.user_id).ok()) {
            headers.insert("x-next-cursor", v);
        }
    }
    Ok((headers, ApiJson(page.into_iter().map(MemberView::from).collect())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    email: String,
    /// `member` (default), `editor` or `owner`.
    role: Option<String>,
    /// Existing teams of the organization to add the member to.
    #[serde(default)]
    teams: Vec<String>,
    /// Used when the account is created now.
    full_name: Option<String>,
}

/// Add a member by email (source `admin`), creating the account when needed. Takes a seat.
#[utoipa::path(post, path = "/organizations/{org}/members", tag = "members", params(("org" = String, Path, description = "id or name")),
    request_body = AddMember, responses((status = 201, body = MemberView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("admin_token" = [])))]
async fn add(
    State(state): State<AppState>,
    admin: Admin,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<AddMember>,
) -> Result<(StatusCode, ApiJson<MemberView>), ApiError> {
    let email = Email::parse(&body.email)?;
    let role = body
        .role
        .as_deref()
        .map(Role::parse)
        .transpose()?
        .unwrap_or(Role::Member);
    let profile = Profile {
        full_name: body.full_name.filter(|n| !n.trim().is_empty()),
        ..Profile::default()
    };
    let ctx = admin.ctx(&state);
    let member = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let org = organizations::find(db, &org).await?;
                members::add_by_admin(db, &ctx, &org, &email, role, &body.teams, &profile).await
            })
        })
        .await?;
    Ok((StatusCode::CREATED, ApiJson(member.into())))
}

/// Read one membership.
#[utoipa::path(get, path = "/organizations/{org}/members/{user}", tag = "members",
    params(("org" = String, Path, description = "id or name"), ("user" = String, Path, description = "id, email or username")),
    responses((status = 200, body = MemberView), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn get_one(
    State(state): State<AppState>,
    _admin: Admin,
    Path((org, user)): Path<(String, String)>,
) -> Result<ApiJson<MemberView>, ApiError> {
    let m = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let org = organizations::find(db, &org).await?;
                members::find(db, &org, &user).await
            })
        })
        .await?;
    Ok(ApiJson(m.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    role: Option<String>,
    /// `active` or `deactivated`.
    state: Option<String>,
}

/// Change a member's role or state. The last active owner cannot be demoted or
/// deactivated; reactivation takes a seat.
#[utoipa::path(patch, path = "/organizations/{org}/members/{user}", tag = "members",
    params(("org" = String, Path, description = "id or name"), ("user" = String, Path, description = "id, email or username")),
    request_body = UpdateMember, responses((status = 200, body = MemberView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("admin_token" = [])))]
async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Path((org, user)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateMember>,
) -> Result<ApiJson<MemberView>, ApiError> {
    let role = body.role.as_deref().map(Role::parse).transpose()?;
    let new_state = body.state.as_deref().map(MemberState::parse).transpose()?;
    let ctx = admin.ctx(&state);
    let m = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let org = organizations::find(db, &org).await?;
                members::update(db, &ctx, &org, &user, role, new_state).await
            })
        })
        .await?;
    Ok(ApiJson(m.into()))
}

/// Remove a member (and their teams in this organization); ends their sessions for
/// the company. The last active owner cannot be removed.
#[utoipa::path(delete, path = "/organizations/{org}/members/{user}", tag = "members",
    params(("org" = String, Path, description = "id or name"), ("user" = String, Path, description = "id, email or username")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("admin_token" = [])))]
async fn remove(
    State(state): State<AppState>,
    admin: Admin,
    Path((org, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let ctx = admin.ctx(&state);
    state
        .store
        .write(move |db| {
            Box::pin(async move {
                let org = organizations::find(db, &org).await?;
                members::remove(db, &ctx, &org, &user).await
            })
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
