use super::page_limit;
use crate::auth::Admin;
use crate::error::{ApiError, ApiJson, ApiQuery, ErrorBody};
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use roster_store::directory::users::{self, Profile, User};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get_one, update, delete))
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    id: String,
    email: String,
    username: String,
    full_name: String,
    given_name: Option<String>,
    family_name: Option<String>,
    created_at: String,
    updated_at: String,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            email: u.email,
            username: u.username,
            full_name: u.full_name,
            given_name: u.given_name,
            family_name: u.family_name,
            created_at: ts(u.created_at),
            updated_at: ts(u.updated_at),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Emails starting with this (case-insensitive).
    email: Option<String>,
    /// Continue after this email (the last one of the previous page).
    after: Option<String>,
    /// Page size (default 100, at most 1000).
    limit: Option<u32>,
}

/// List user accounts by email.
#[utoipa::path(get, path = "/users", tag = "users", params(ListQuery), responses((status = 200, body = [UserView])), security(("admin_token" = [])))]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<ApiJson<Vec<UserView>>, ApiError> {
    let limit = page_limit(q.limit, 100, 1000);
    let list = state
        .store
        .read(move |db| Box::pin(async move { users::list(db, q.email.as_deref(), q.after.as_deref(), limit).await }))
        .await?;
    Ok(ApiJson(list.into_iter().map(UserView::from).collect()))
}

/// Read a user (by id, email or username).
#[utoipa::path(get, path = "/users/{user}", tag = "users", params(("user" = String, Path, description = "id, email or username")),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn get_one(
    State(state): State<AppState>,
    _admin: Admin,
    Path(user): Path<String>,
) -> Result<ApiJson<UserView>, ApiError> {
    let u = state
        .store
        .read(move |db| Box::pin(async move { users::find(db, &user).await }))
        .await?;
    Ok(ApiJson(u.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    full_name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
}

fn clean(field: &str, v: Option<String>) -> Result<Option<String>, ApiError> {
    match v.map(|s| s.trim().to_string()) {
        Some(s) if s.is_empty() || s.chars().count() > 200 || s.chars().any(char::is_control) => {
            Err(ApiError::bad_request(
                "invalid_name",
                format!("{field} must be 1..200 characters without control characters"),
            ))
        }
        other => Ok(other),
    }
}

/// Change a user's names.
#[utoipa::path(patch, path = "/users/{user}", tag = "users", params(("user" = String, Path, description = "id, email or username")),
    request_body = UpdateUser, responses((status = 200, body = UserView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("admin_token" = [])))]
async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Path(user): Path<String>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> Result<ApiJson<UserView>, ApiError> {
    let profile = Profile {
        full_name: clean("full_name", body.full_name)?,
        given_name: clean("given_name", body.given_name)?,
        family_name: clean("family_name", body.family_name)?,
    };
    let ctx = admin.ctx(&state);
    let u = state
        .store
        .write(move |db| Box::pin(async move { users::update_profile(db, &ctx, &user, &profile).await }))
        .await?;
    Ok(ApiJson(u.into()))
}

/// Delete a user account with all its memberships (refused for an organization's last
/// active owner).
#[utoipa::path(delete, path = "/users/{user}", tag = "users", params(("user" = String, Path, description = "id, email or username")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("admin_token" = [])))]
async fn delete(State(state): State<AppState>, admin: Admin, Path(user): Path<String>) -> Result<StatusCode, ApiError> {
    let ctx = admin.ctx(&state);
    state
        .store
        .write(move |db| Box::pin(async move { users::delete(db, &ctx, &user).await }))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
