//! API keys: credentials apps read the directory and the events with, limited to
//! scopes (`directory:read`, `events:read`) and optionally to organizations; the key is
//! shown once and kept only as a hash; revoked, it stops at once.

use crate::auth::Admin;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use roster_store::api_keys::{self, ApiKey};
use roster_store::directory::organizations;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The scopes a key may hold.
const SCOPES: [&str; 2] = ["directory:read", "events:read"];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyView {
    id: String,
    scopes: Vec<String>,
    /// Organization ids it may read; empty: all.
    organizations: Vec<String>,
    /// The key, only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    created_at: String,
    revoked_at: Option<String>,
}

impl ApiKeyView {
    fn new(k: ApiKey, key: Option<String>) -> Self {
        Self {
            id: k.id,
            scopes: k.scopes,
            organizations: k.organizations,
            key,
            created_at: ts(k.created_at),
            revoked_at: k.revoked_at.map(ts),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// `directory:read`, `events:read`.
    scopes: Vec<String>,
    /// Organizations (ids or names) it may read; none: all.
    #[serde(default)]
    organizations: Vec<String>,
}

/// Make an API key; the key is in this answer only.
#[utoipa::path(post, path = "/api-keys", tag = "api-keys", request_body = CreateApiKey,
    responses((status = 201, body = ApiKeyView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("admin_token" = [])))]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<CreateApiKey>,
) -> Result<(StatusCode, ApiJson<ApiKeyView>), ApiError> {
    if body.scopes.is_empty() || body.scopes.len() > SCOPES.len() {
        return Err(ApiError::bad_request(
            "invalid_scope",
            "scopes: directory:read and/or events:read",
        ));
    }
    if let Some(bad) = body.scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        return Err(ApiError::bad_request(
            "invalid_scope",
            format!("'{bad}' is not a scope: directory:read, events:read"),
        ));
    }
    if body.organizations.len() > 100 {
        return Err(ApiError::bad_request("too_many", "at most 100 organizations"));
    }
    let ctx = admin.ctx(&state);
    let (key, secret) = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let ids = organizations::ids(db, &body.organizations).await?;
                api_keys::create(db, &ctx, &body.scopes, &ids).await
            })
        })
        .await?;
    Ok((StatusCode::CREATED, ApiJson(ApiKeyView::new(key, Some(secret)))))
}

/// Every API key (never the keys themselves).
#[utoipa::path(get, path = "/api-keys", tag = "api-keys",
    responses((status = 200, body = Vec<ApiKeyView>)), security(("admin_token" = [])))]
async fn list(State(state): State<AppState>, _admin: Admin) -> Result<ApiJson<Vec<ApiKeyView>>, ApiError> {
    let keys = state
        .store
        .read(|db| Box::pin(async move { api_keys::list(db).await }))
        .await?;
    Ok(ApiJson(keys.into_iter().map(|k| ApiKeyView::new(k, None)).collect()))
}

/// Revoke an API key: it stops working at once.
#[utoipa::path(delete, path = "/api-keys/{id}", tag = "api-keys", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn revoke(State(state): State<AppState>, admin: Admin, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let ctx = admin.ctx(&state);
    state
        .store
        .write(move |db| Box::pin(async move { api_keys::revoke(db, &ctx, &id).await }))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
