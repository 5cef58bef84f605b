use crate::auth::Admin;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use roster_core::Name;
use roster_store::directory::companies::{self, Company};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, delete))
}

#[derive(Serialize, ToSchema)]
pub struct CompanyView {
    id: String,
    name: String,
    created_at: String,
}

impl From<Company> for CompanyView {
    fn from(c: Company) -> Self {
        Self {
            id: c.id,
            name: c.name,
            created_at: ts(c.created_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCompany {
    name: String,
}

/// List companies.
#[utoipa::path(get, path = "/companies", tag = "companies", responses((status = 200, body = [CompanyView])), security(("admin_token" = [])))]
async fn list(State(state): State<AppState>, _admin: Admin) -> Result<ApiJson<Vec<CompanyView>>, ApiError> {
    let list = state
        .store
        .read(|db| Box::pin(async move { companies::list(db).await }))
        .await?;
    Ok(ApiJson(list.into_iter().map(CompanyView::from).collect()))
}

/// Create a company (to group several organizations under one sign-in).
#[utoipa::path(post, path = "/companies", tag = "companies", request_body = CreateCompany,
    responses((status = 201, body = CompanyView), (status = 409, body = ErrorBody)), security(("admin_token" = [])))]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<CreateCompany>,
) -> Result<(StatusCode, ApiJson<CompanyView>), ApiError> {
    let name = Name::parse(&body.name, "company")?;
    let ctx = admin.ctx(&state);
    let c = state
        .store
        .write(move |db| Box::pin(async move { companies::create(db, &ctx, &name).await }))
        .await?;
    Ok((StatusCode::CREATED, ApiJson(c.into())))
}

/// Read a company (by id or name).
#[utoipa::path(get, path = "/companies/{company}", tag = "companies", params(("company" = String, Path, description = "id or name")),
    responses((status = 200, body = CompanyView), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn get_one(
    State(state): State<AppState>,
    _admin: Admin,
    Path(company): Path<String>,
) -> Result<ApiJson<CompanyView>, ApiError> {
    let c = state
        .store
        .read(move |db| Box::pin(async move { companies::find(db, &company).await }))
        .await?;
    Ok(ApiJson(c.into()))
}

/// Delete a company that has no organizations and no connections left.
#[utoipa::path(delete, path = "/companies/{company}", tag = "companies", params(("company" = String, Path, description = "id or name")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("admin_token" = [])))]
async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    Path(company): Path<String>,
) -> Result<StatusCode, ApiError> {
    let ctx = admin.ctx(&state);
    state
        .store
        .write(move |db| Box::pin(async move { companies::delete(db, &ctx, &company).await }))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
