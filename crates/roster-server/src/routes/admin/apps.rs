//! Apps: the company's applications that sign people in through Roster (OAuth 2.0
//! clients of its OpenID Provider), registered by an admin. A confidential app's secret
//! is shown once, at creation and at each rotation, and kept only as a hash.

use crate::auth::Admin;
use crate::error::{ApiError, ApiJson, ApiQuery, ErrorBody};
use crate::routes::ts;
use crate::service::apps::{CreateApp, Draft};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use roster_oidc::client::ClientType;
use roster_store::apps::{self, App};
use roster_store::tokens::random_secret;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(rotate_secret))
}

#[derive(Serialize, ToSchema)]
pub struct AppView {
    client_id: String,
    company: String,
    name: String,
    /// `confidential` or `public`.
    client_type: String,
    token_endpoint_auth_method: String,
    id_token_signed_response_alg: String,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    /// Organizations whose members may sign in; empty: all of the company's.
    organizations: Vec<String>,
    backchannel_logout_uri: Option<String>,
    /// The secret, only in the answer that made it (creation, rotation).
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    client_secret_set: bool,
    created_at: String,
    updated_at: String,
}

impl AppView {
    fn new(a: App, secret: Option<String>) -> Self {
        Self {
            client_id: a.id,
            company: a.company,
            name: a.name,
            client_type: a.client_type,
            token_endpoint_auth_method: a.token_endpoint_auth_method,
            id_token_signed_response_alg: a.id_token_signed_response_alg,
            redirect_uris: a.redirect_uris,
            post_logout_redirect_uris: a.post_logout_redirect_uris,
            organizations: a.organizations,
            backchannel_logout_uri: a.backchannel_logout_uri,
            client_secret: secret,
            client_secret_set: a.has_secret,
            created_at: ts(a.created_at),
            updated_at: ts(a.updated_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateApp {
    name: Option<String>,
    redirect_uris: Option<Vec<String>>,
    post_logout_redirect_uris: Option<Vec<String>>,
    organizations: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    id_token_signed_response_alg: Option<String>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    backchannel_logout_uri: Option<Option<String>>,
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// Company id or name.
    company: Option<String>,
}

/// List apps, by company and name.
#[utoipa::path(get, path = "/apps", tag = "apps", params(ListQuery),
    responses((status = 200, body = [AppView])), security(("admin_token" = [])))]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<ApiJson<Vec<AppView>>, ApiError> {
    let list = state
        .store
        .read(move |db| Box::pin(async move { apps::list(db, q.company.as_deref()).await }))
        .await?;
    Ok(ApiJson(list.into_iter().map(|a| AppView::new(a, None)).collect()))
}

/// Register an app. A confidential app's `client_secret` is in this answer only.
#[utoipa::path(post, path = "/apps", tag = "apps", request_body = CreateApp,
    responses((status = 201, body = AppView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("admin_token" = [])))]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<CreateApp>,
) -> Result<(StatusCode, ApiJson<AppView>), ApiError> {
    let (app, secret) = crate::service::apps::create(&state, admin.ctx(&state), body).await?;
    Ok((StatusCode::CREATED, ApiJson(AppView::new(app, secret))))
}

/// Get an app (never its secret).
#[utoipa::path(get, path = "/apps/{id}", tag = "apps", params(("id" = String, Path, description = "client id")),
    responses((status = 200, body = AppView), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn get_one(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<ApiJson<AppView>, ApiError> {
    let app = state
        .store
        .read(move |db| Box::pin(async move { apps::find(db, &id).await }))
        .await?;
    Ok(ApiJson(AppView::new(app, None)))
}

/// Change an app's settings; what the body leaves out stays. An app's type cannot
/// change: register a new app instead.
#[utoipa::path(patch, path = "/apps/{id}", tag = "apps", params(("id" = String, Path, description = "client id")), request_body = UpdateApp,
    responses((status = 200, body = AppView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("admin_token" = [])))]
async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateApp>,
) -> Result<ApiJson<AppView>, ApiError> {
    let cur = {
        let id = id.clone();
        state
            .store
            .read(move |db| Box::pin(async move { apps::find(db, &id).await }))
            .await?
    };
    let client_type = if cur.client_type == ClientType::Public.as_str() {
        ClientType::Public
    } else {
        ClientType::Confidential
    };
    let spec = Draft {
        name: body.name.unwrap_or(cur.name),
        client_type,
        auth: Some(
            body.token_endpoint_auth_method
                .unwrap_or(cur.token_endpoint_auth_method),
        ),
        alg: Some(
            body.id_token_signed_response_alg
                .unwrap_or(cur.id_token_signed_response_alg),
        ),
        redirect_uris: body.redirect_uris.unwrap_or(cur.redirect_uris),
        post_logout_redirect_uris: body.post_logout_redirect_uris.unwrap_or(cur.post_logout_redirect_uris),
        organizations: body.organizations.unwrap_or(cur.organizations),
        backchannel_logout_uri: body.backchannel_logout_uri.unwrap_or(cur.backchannel_logout_uri),
    }
    .spec()?;
    let ctx = admin.ctx(&state);
    let app = state
        .store
        .write(move |db| Box::pin(async move { apps::update(db, &ctx, &id, &spec).await }))
        .await?;
    Ok(ApiJson(AppView::new(app, None)))
}

/// Give a confidential app a new secret, in this answer only; the old one stops
/// working at once.
#[utoipa::path(post, path = "/apps/{id}/rotate-secret", tag = "apps", params(("id" = String, Path, description = "client id")),
    responses((status = 200, body = AppView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("admin_token" = [])))]
async fn rotate_secret(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<ApiJson<AppView>, ApiError> {
    let secret = random_secret();
    let ctx = admin.ctx(&state);
    let kept = secret.clone();
    let app = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let cur = apps::find(db, &id).await?;
                if cur.client_type == ClientType::Public.as_str() {
                    return Ok(None);
                }
                apps::rotate_secret(db, &ctx, &id, &kept).await.map(Some)
            })
        })
        .await?
        .ok_or_else(|| ApiError::bad_request("public_app", "a public app has no secret to rotate"))?;
    Ok(ApiJson(AppView::new(app, Some(secret))))
}

/// Delete an app.
#[utoipa::path(delete, path = "/apps/{id}", tag = "apps", params(("id" = String, Path, description = "client id")),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn delete(State(state): State<AppState>, admin: Admin, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let ctx = admin.ctx(&state);
    state
        .store
        .write(move |db| Box::pin(async move { apps::delete(db, &ctx, &id).await }))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
