use crate::auth::Admin;
use crate::error::{ApiError, ApiJson, ApiQuery, ErrorBody};
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use roster_core::Name;
use roster_store::directory::companies;
use roster_store::directory::organizations::{self, Organization, Update};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
}

#[derive(Serialize, ToSchema)]
pub struct OrganizationView {
    id: String,
    name: String,
    company: String,
    company_id: String,
    seat_limit: Option<i64>,
    /// Active members plus pending invitations (single-object reads only).
    #[serde(skip_serializing_if = "Option::is_none")]
    seats_used: Option<i64>,
    created_at: String,
    updated_at: String,
}

impl OrganizationView {
    fn new(o: Organization, seats_used: Option<i64>) -> Self {
        Self {
            id: o.id,
            name: o.name,
            company: o.company,
            company_id: o.company_id,
            seat_limit: o.seat_limit,
            seats_used,
            created_at: ts(o.created_at),
            updated_at: ts(o.updated_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganization {
    name: String,
    /// Company id or name; without it, a company of the same name is created.
    company: Option<String>,
    seat_limit: Option<u32>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this company's organizations (id or name).
    company: Option<String>,
}

/// List organizations.
#[utoipa::path(get, path = "/organizations", tag = "organizations", params(ListQuery),
    responses((status = 200, body = [OrganizationView]), (status = 401, body = ErrorBody)), security(("admin_token" = [])))]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<ApiJson<Vec<OrganizationView>>, ApiError> {
    let orgs = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let company_id = match q.company {
                    Some(c) => Some(companies::find(db, &c).await?.id),
                    None => None,
                };
                organizations::list(db, company_id.as_deref()).await
            })
        })
        .await?;
    Ok(ApiJson(
        orgs.into_iter().map(|o| OrganizationView::new(o, None)).collect(),
    ))
}

/// Create an organization.
#[utoipa::path(post, path = "/organizations", tag = "organizations", request_body = CreateOrganization,
    responses((status = 201, body = OrganizationView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("admin_token" = [])))]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<CreateOrganization>,
) -> Result<(StatusCode, ApiJson<OrganizationView>), ApiError> {
    let name = Name::parse_organization(&body.name)?;
    let ctx = admin.ctx(&state);
    let org = state
        .store
        .write(move |db| {
            Box::pin(async move {
                organizations::create(db, &ctx, &name, body.company.as_deref(), body.seat_limit.map(i64::from)).await
            })
        })
        .await?;
    Ok((StatusCode::CREATED, ApiJson(OrganizationView::new(org, Some(0)))))
}

/// Read an organization (by id or name).
#[utoipa::path(get, path = "/organizations/{org}", tag = "organizations", params(("org" = String, Path, description = "id or name")),
    responses((status = 200, body = OrganizationView), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn get_one(
    State(state): State<AppState>,
    _admin: Admin,
    Path(org): Path<String>,
) -> Result<ApiJson<OrganizationView>, ApiError> {
    let now = state.now();
    let (org, used) = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let org = organizations::find(db, &org).await?;
                let used = organizations::seats_used(db, &org.id, now).await?;
                Ok((org, used))
            })
        })
        .await?;
    Ok(ApiJson(OrganizationView::new(org, Some(used))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganization {
    name: Option<String>,
    /// A number sets the limit; `null` removes it.
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<u32>)]
    seat_limit: Option<Option<u32>>,
}

/// Rename an organization or change its seat limit.
#[utoipa::path(patch, path = "/organizations/{org}", tag = "organizations", params(("org" = String, Path, description = "id or name")),
    request_body = UpdateOrganization,
    responses((status = 200, body = OrganizationView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("admin_token" = [])))]
async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<UpdateOrganization>,
) -> Result<ApiJson<OrganizationView>, ApiError> {
    let up = Update {
        name: body.name.as_deref().map(Name::parse_organization).transpose()?,
        seat_limit: body.seat_limit.map(|l| l.map(i64::from)),
    };
    let ctx = admin.ctx(&state);
    let now = ctx.now;
    let (org, used) = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let org = organizations::update(db, &ctx, &org, up).await?;
                let used = organizations::seats_used(db, &org.id, now).await?;
                Ok((org, used))
            })
        })
        .await?;
    Ok(ApiJson(OrganizationView::new(org, Some(used))))
}

/// Delete an organization with its teams, memberships and invitations.
#[utoipa::path(delete, path = "/organizations/{org}", tag = "organizations", params(("org" = String, Path, description = "id or name")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("admin_token" = [])))]
async fn delete(State(state): State<AppState>, admin: Admin, Path(org): Path<String>) -> Result<StatusCode, ApiError> {
    let ctx = admin.ctx(&state);
    state
        .store
        .write(move |db| Box::pin(async move { organizations::delete(db, &ctx, &org).await }))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
