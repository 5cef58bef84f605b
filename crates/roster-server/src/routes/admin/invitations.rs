use crate::auth::Admin;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use roster_core::{Email, Role};
use roster_store::directory::invitations::{self, Invitation};
use roster_store::directory::organizations;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, revoke))
}

#[derive(Serialize, ToSchema)]
pub struct InvitationView {
    id: String,
    organization_id: String,
    email: String,
    team: Option<String>,
    role: String,
    /// `pending`, `accepted`, `revoked` or `expired`.
    state: String,
    created_at: String,
    expires_at: String,
}

impl InvitationView {
    fn new(i: Invitation, now: i64) -> Self {
        let state = if i.accepted_at.is_some() {
            "accepted"
        } else if i.revoked_at.is_some() {
            "revoked"
        } else if i.expires_at <= now {
            "expired"
        } else {
            "pending"
        };
        Self {
            id: i.id,
            organization_id: i.organization_id,
            email: i.email,
            team: i.team,
            role: i.role,
            state: state.into(),
            created_at: ts(i.created_at),
            expires_at: ts(i.expires_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    email: String,
    /// An existing team of the organization.
    team: Option<String>,
    /// `member` (default), `editor` or `owner`.
    role: Option<String>,
}

/// List pending invitations.
#[utoipa::path(get, path = "/organizations/{org}/invitations", tag = "invitations", params(("org" = String, Path, description = "id or name")),
    responses((status = 200, body = [InvitationView]), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    Path(org): Path<String>,
) -> Result<ApiJson<Vec<InvitationView>>, ApiError> {
    let now = state.now();
    let list = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let org = organizations::find(db, &org).await?;
                invitations::list_pending(db, &org, now).await
            })
        })
        .await?;
    Ok(ApiJson(list.into_iter().map(|i| InvitationView::new(i, now)).collect()))
}

/// Invite an email to the organization (optionally to a team, with a role). Takes a
/// seat; expires after 14 days.
#[utoipa::path(post, path = "/organizations/{org}/invitations", tag = "invitations", params(("org" = String, Path, description = "id or name")),
    request_body = CreateInvitation, responses((status = 201, body = InvitationView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("admin_token" = [])))]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<CreateInvitation>,
) -> Result<(StatusCode, ApiJson<InvitationView>), ApiError> {
    let email = Email::parse(&body.email)?;
    let role = body
        .role
        .as_deref()
        .map(Role::parse)
        .transpose()?
        .unwrap_or(Role::Member);
    let ctx = admin.ctx(&state);
    let now = ctx.now;
    let inv = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let org = organizations::find(db, &org).await?;
                invitations::create(db, &ctx, &org, &email, body.team.as_deref(), role).await
            })
        })
        .await?;
    Ok((StatusCode::CREATED, ApiJson(InvitationView::new(inv, now))))
}

/// Read an invitation.
#[utoipa::path(get, path = "/organizations/{org}/invitations/{id}", tag = "invitations",
    params(("org" = String, Path, description = "id or name"), ("id" = String, Path)),
    responses((status = 200, body = InvitationView), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn get_one(
    State(state): State<AppState>,
    _admin: Admin,
    Path((org, id)): Path<(String, String)>,
) -> Result<ApiJson<InvitationView>, ApiError> {
    let now = state.now();
    let inv = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let org = organizations::find(db, &org).await?;
                invitations::find(db, &org, &id).await
            })
        })
        .await?;
    Ok(ApiJson(InvitationView::new(inv, now)))
}

/// Revoke a pending invitation, freeing its seat.
#[utoipa::path(delete, path = "/organizations/{org}/invitations/{id}", tag = "invitations",
    params(("org" = String, Path, description = "id or name"), ("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("admin_token" = [])))]
async fn revoke(
    State(state): State<AppState>,
    admin: Admin,
    Path((org, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let ctx = admin.ctx(&state);
    state
        .store
        .write(move |db| {
            Box::pin(async move {
                let org = organizations::find(db, &org).await?;
                invitations::revoke(db, &ctx, &org, &id).await
            })
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
