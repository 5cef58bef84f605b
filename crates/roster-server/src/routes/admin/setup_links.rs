//! Self-serve setup links of a connection: made, listed and revoked by the admin API
//! (the console makes them too). Whoever opens one can do that connection's IdP setup
//! at `/setup` and nothing else.

use crate::auth::Admin;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::routes::ts;
use crate::service::connections as service;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use roster_store::connections;
use roster_store::setup_links::{self, SetupLink};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
}

#[derive(Serialize, ToSchema)]
pub struct SetupLinkView {
    id: String,
    connection_id: String,
    /// Who made it (`admin:<token id>`, `owner:<user id>`).
    created_by: String,
    created_at: String,
    expires_at: String,
    /// When a browser first opened it (from then on only that browser can use it).
    opened_at: Option<String>,
    revoked_at: Option<String>,
    /// Whether it works now.
    live: bool,
}

impl SetupLinkView {
    fn new(l: SetupLink, now: i64) -> Self {
        Self {
            live: l.live(now),
            id: l.id,
            connection_id: l.connection_id,
            created_by: l.created_by,
            created_at: ts(l.created_at),
            expires_at: ts(l.expires_at),
            opened_at: l.opened_at.map(ts),
            revoked_at: l.revoked_at.map(ts),
        }
    }
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateSetupLink {
    /// How long the link works: 1 to 720 hours (default 72).
    expires_in_hours: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct NewSetupLink {
    #[serde(flatten)]
    link: SetupLinkView,
    /// The link to hand over; shown once (only its hash is kept).
    url: String,
}

/// A connection's setup links, newest first.
#[utoipa::path(get, path = "/connections/{id}/setup-links", tag = "connections",
    params(("id" = String, Path, description = "connection id or name")),
    responses((status = 200, body = [SetupLinkView]), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<ApiJson<Vec<SetupLinkView>>, ApiError> {
    let links = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let c = connections::find(db, &id).await?;
                setup_links::list(db, &c.id).await
            })
        })
        .await?;
    let now = state.now();
    Ok(ApiJson(links.into_iter().map(|l| SetupLinkView::new(l, now)).collect()))
}

/// Make a setup link: whoever opens it can do this connection's IdP setup (SP values,
/// IdP metadata or OIDC client, SCIM token, test sign-in) and nothing else, from the
/// first browser that opens it, until it expires or is revoked.
#[utoipa::path(post, path = "/connections/{id}/setup-links", tag = "connections",
    params(("id" = String, Path, description = "connection id or name")), request_body = CreateSetupLink,
    responses((status = 201, body = NewSetupLink), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("admin_token" = [])))]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    body: Option<ApiJson<CreateSetupLink>>,
) -> Result<(StatusCode, ApiJson<NewSetupLink>), ApiError> {
    let hours = body.and_then(|b| b.0.expires_in_hours);
    let (link, url) = service::create_setup_link(&state, admin.ctx(&state), id, hours).await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(NewSetupLink {
            link: SetupLinkView::new(link, state.now()),
            url,
        }),
    ))
}

/// Revoke a setup link: it stops working at once, in the browser that opened it too.
#[utoipa::path(delete, path = "/connections/{id}/setup-links/{link_id}", tag = "connections",
    params(("id" = String, Path, description = "connection id or name"), ("link_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn revoke(
    State(state): State<AppState>,
    admin: Admin,
    Path((id, link_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    service::revoke_setup_link(&state, admin.ctx(&state), id, link_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
