use super::organizations::{self, Organization};
use super::teams;
use crate::audit::{self, NewEvent};
use crate::db::{self, Conn};
use crate::{new_id, Ctx, StoreError};
use roster_core::{rules, Email, Role};
use serde::Serialize;
use serde_json::json;

#[derive(Debug, Clone, Serialize)]
pub struct Invitation {
    pub id: String,
    pub organization_id: String,
    pub email: String,
    pub team: Option<String>,
    pub role: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

db::from_row!(Invitation {
    id,
    organization_id,
    email,
    team,
    role,
    created_at,
    expires_at,
    accepted_at,
    revoked_at
});

const SELECT: &str = "SELECT i.id, i.organization_id, i.email, t.name AS team, i.role, i.created_at, i.expires_at, \
                      i.accepted_at, i.revoked_at FROM invitations i LEFT JOIN teams t ON t.id = i.team_id";

/// Pending invitations of `org` (not accepted, not revoked, not expired at `now`).
pub async fn list_pending(conn: &mut Conn, org: &Organization, now: i64) -> Result<Vec<Invitation>, StoreError> {
    db::query_as(&format!(
        "{SELECT} WHERE i.organization_id = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > $2 \
         ORDER BY i.created_at, i.id"
    ))
    .bind(&org.id)
    .bind(now)
    .fetch_all(conn)
    .await
}

pub async fn find(conn: &mut Conn, org: &Organization, id: &str) -> Result<Invitation, StoreError> {
    db::query_as(&format!("{SELECT} WHERE i.organization_id = $1 AND i.id = $2"))
        .bind(&org.id)
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| StoreError::not_found("invitation", id))
}

/// Invites `email` to `org` (and `team`), taking a seat (J9) for 14 days.
pub async fn create(
    conn: &mut Conn,
    ctx: &Ctx,
    org: &Organization,
    email: &Email,
    team: Option<&str>,
    role: Role,
) -> Result<Invitation, StoreError> {
    let team = match team {
        Some(t) => Some(teams::find(conn, org, t).await?),
        None => None,
    };
    let member: Option<String> = db::query_scalar(
        "SELECT m.state FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.organization_id = $1 AND u.email_key = $2",
    )
    .bind(&org.id)
    .bind(email.key())
    .fetch_optional(&mut *conn)
    .await?;
    if member.is_some() {
        return Err(StoreError::conflict(
            "member_exists",
            format!("'{email}' is already a member of '{}'", org.name),
        ));
    }
    // An expired invitation no longer blocks a new one: mark it revoked (recorded as
    // expired) so that the "one pending invitation per email" index lets the new one in.
    let expired: Vec<String> = db::query_scalar(
        "SELECT id FROM invitations WHERE organization_id = $1 AND email_key = $2 \
         AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at <= $3",
    )
    .bind(&org.id)
    .bind(email.key())
    .bind(ctx.now)
    .fetch_all(&mut *conn)
    .await?;
    for old in &expired {
        db::query("UPDATE invitations SET revoked_at = $1 WHERE id = $2")
            .bind(ctx.now)
            .bind(old)
            .execute(&mut *conn)
            .await?;
        audit::record(
            conn,
            ctx,
            NewEvent {
                action: "invitation.expire",
                object_kind: "invitation",
                object_id: old,
                company_id: Some(&org.company_id),
                organization_id: Some(&org.id),
                reason: Some("expired after 14 days; replaced by a new invitation".into()),
                ..Default::default()
            },
        )
        .await?;
    }
    let pending: Option<String> = db::query_scalar(
        "SELECT id FROM invitations WHERE organization_id = $1 AND email_key = $2 AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(&org.id)
    .bind(email.key())
    .fetch_optional(&mut *conn)
    .await?;
    if pending.is_some() {
        return Err(StoreError::conflict(
            "invitation_exists",
            format!("'{email}' already has a pending invitation to '{}'", org.name),
        ));
    }
    organizations::require_seat(conn, org, ctx.now).await?;
    let id = new_id();
    let expires_at = ctx.now + rules::INVITATION_LIFETIME_MS;
    db::query(
        "INSERT INTO invitations (id, organization_id, email, email_key, team_id, role, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(&org.id)
    .bind(email.as_str())
    .bind(email.key())
    .bind(team.as_ref().map(|t| t.id.clone()))
    .bind(role.as_str())
    .bind(ctx.now)
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "invitation.create",
            object_kind: "invitation",
            object_id: &id,
            company_id: Some(&org.company_id),
            organization_id: Some(&org.id),
            after: Some(json!({ "email": email.as_str(), "team": team.as_ref().map(|t| &t.name), "role": role, "expires_at": expires_at })),
            ..Default::default()
        },
    )
    .await?;
    find(conn, org, &id).await
}

pub async fn revoke(conn: &mut Conn, ctx: &Ctx, org: &Organization, id: &str) -> Result<(), StoreError> {
    let inv = find(conn, org, id).await?;
    if inv.accepted_at.is_some() || inv.revoked_at.is_some() {
        return Err(StoreError::conflict(
            "invitation_closed",
            "the invitation was already accepted or revoked",
        ));
    }
    db::query("UPDATE invitations SET revoked_at = $1 WHERE id = $2")
        .bind(ctx.now)
        .bind(&inv.id)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "invitation.revoke",
            object_kind: "invitation",
            object_id: &inv.id,
            company_id: Some(&org.company_id),
            organization_id: Some(&org.id),
            before: Some(json!({ "email": inv.email, "team": inv.team, "role": inv.role })),
            ..Default::default()
        },
    )
    .await
}
