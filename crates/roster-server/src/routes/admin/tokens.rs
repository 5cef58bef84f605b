use crate::auth::Admin;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use roster_store::connections;
use roster_store::tokens::{self, ScimToken, TokenInfo};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_scim, create_scim))
        .routes(routes!(revoke_scim))
        .routes(routes!(list_admin, create_admin))
        .routes(routes!(revoke_admin))
}

#[derive(Serialize, ToSchema)]
pub struct ScimTokenView {
    id: String,
    connection_id: String,
    created_at: String,
    last_used_at: Option<String>,
    revoked_at: Option<String>,
}

impl From<ScimToken> for ScimTokenView {
    fn from(t: ScimToken) -> Self {
        Self {
            id: t.id,
            connection_id: t.connection_id,
            created_at: ts(t.created_at),
            last_used_at: t.last_used_at.map(ts),
            revoked_at: t.revoked_at.map(ts),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct NewScimToken {
    id: String,
    /// The bearer secret, shown only in this answer.
    token: String,
    scim_base_url: String,
}

/// List a connection's SCIM tokens (never their secrets).
#[utoipa::path(get, path = "/connections/{id}/scim-tokens", tag = "scim tokens", params(("id" = String, Path, description = "connection id or name")),
    responses((status = 200, body = [ScimTokenView]), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn list_scim(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<ApiJson<Vec<ScimTokenView>>, ApiError> {
    let list = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let c = connections::find(db, &id).await?;
                tokens::list_scim(db, &c.id).await
            })
        })
        .await?;
    Ok(ApiJson(list.into_iter().map(ScimTokenView::from).collect()))
}

/// Mint a SCIM token. The secret is in this answer only; only its hash is stored.
#[utoipa::path(post, path = "/connections/{id}/scim-tokens", tag = "scim tokens", params(("id" = String, Path, description = "connection id or name")),
    responses((status = 201, body = NewScimToken), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn create_scim(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<(StatusCode, ApiJson<NewScimToken>), ApiError> {
    let (t, secret) = crate::service::connections::issue_scim_token(&state, admin.ctx(&state), id).await?;
    let scim_base_url = format!("{}/scim/v2", state.config.public_url);
    Ok((
        StatusCode::CREATED,
        ApiJson(NewScimToken {
            id: t.id,
            token: secret,
            scim_base_url,
        }),
    ))
}

/// Revoke a SCIM token; it stops working at once.
#[utoipa::path(delete, path = "/connections/{id}/scim-tokens/{token_id}", tag = "scim tokens",
    params(("id" = String, Path, description = "connection id or name"), ("token_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn revoke_scim(
    State(state): State<AppState>,
    admin: Admin,
    Path((id, token_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    crate::service::connections::revoke_scim_token(&state, admin.ctx(&state), id, token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct AdminTokenView {
    id: String,
    name: String,
    created_at: String,
    revoked_at: Option<String>,
}

impl From<TokenInfo> for AdminTokenView {
    fn from(t: TokenInfo) -> Self {
        Self {
            id: t.id,
            name: t.name,
            created_at: ts(t.created_at),
            revoked_at: t.revoked_at.map(ts),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAdminToken {
    /// What the token is for, e.g. "terraform".
    name: String,
}

#[derive(Serialize, ToSchema)]
pub struct NewAdminToken {
    id: String,
    name: String,
    /// The bearer secret, shown only in this answer.
    token: String,
}

/// List admin tokens (never their secrets).
#[utoipa::path(get, path = "/admin-tokens", tag = "admin tokens", responses((status = 200, body = [AdminTokenView])), security(("admin_token" = [])))]
async fn list_admin(State(state): State<AppState>, _admin: Admin) -> Result<ApiJson<Vec<AdminTokenView>>, ApiError> {
    let list = state
        .store
        .read(|db| Box::pin(async move { tokens::list_admin(db).await }))
        .await?;
    Ok(ApiJson(list.into_iter().map(AdminTokenView::from).collect()))
}

/// Mint another admin token.
#[utoipa::path(post, path = "/admin-tokens", tag = "admin tokens", request_body = CreateAdminToken,
    responses((status = 201, body = NewAdminToken), (status = 400, body = ErrorBody)), security(("admin_token" = [])))]
async fn create_admin(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<CreateAdminToken>,
) -> Result<(StatusCode, ApiJson<NewAdminToken>), ApiError> {
    let name = roster_core::Name::parse(&body.name, "token")?;
    let ctx = admin.ctx(&state);
    let (info, secret) = state
        .store
        .write(move |db| Box::pin(async move { tokens::create_admin(db, &ctx, name.as_str()).await }))
        .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(NewAdminToken {
            id: info.id,
            name: info.name,
            token: secret,
        }),
    ))
}

/// Revoke an admin token; it stops working at once.
#[utoipa::path(delete, path = "/admin-tokens/{id}", tag = "admin tokens", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn revoke_admin(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let ctx = admin.ctx(&state);
    state
        .store
        .write(move |db| Box::pin(async move { tokens::revoke_admin(db, &ctx, &id).await }))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
