use super::{companies, is_id};
use crate::audit::{self, NewEvent};
use crate::db::{self, Conn};
use crate::{new_id, Ctx, StoreError};
use roster_core::{rules, Name};
use serde::Serialize;
use serde_json::json;

#[derive(Debug, Clone, Serialize)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub company_id: String,
    /// The company's name.
    pub company: String,
    pub seat_limit: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

db::from_row!(Organization {
    id,
    name,
    company_id,
    company,
    seat_limit,
    created_at,
    updated_at
});

const SELECT: &str = "SELECT o.id, o.name, o.company_id, c.name AS company, o.seat_limit, o.created_at, o.updated_at \
                      FROM organizations o JOIN companies c ON c.id = o.company_id";

/// The ids of the organizations `idents` name (ids or names), each once, in order; an
/// unknown one is not found.
pub async fn ids(conn: &mut Conn, idents: &[String]) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::with_capacity(idents.len());
    for ident in idents {
        let id = find(conn, ident).await?.id;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

pub async fn find(conn: &mut Conn, ident: &str) -> Result<Organization, StoreError> {
    let (sql, key) = if is_id(ident) {
        (format!("{SELECT} WHERE o.id = $1"), ident.to_string())
    } else {
        (format!("{SELECT} WHERE o.name_key = $1"), ident.to_lowercase())
    };
    db::query_as(&sql)
        .bind(key)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| StoreError::not_found("organization", ident))
}

pub async fn list(conn: &mut Conn, company_id: Option<&str>) -> Result<Vec<Organization>, StoreError> {
    db::query_as(&format!(
        "{SELECT} WHERE ($1 IS NULL OR o.company_id = $1) ORDER BY o.name_key"
    ))
    .bind(company_id)
    .fetch_all(conn)
    .await
}

/// Seats taken (J9): active members plus pending, unexpired invitations (an invitation
/// to someone already active is refused at creation, so nobody counts twice).
pub async fn seats_used(conn: &mut Conn, org_id: &str, now: i64) -> Result<i64, StoreError> {
    db::query_scalar(
        "SELECT (SELECT COUNT(*) FROM memberships WHERE organization_id = $1 AND state = 'active') + \
                (SELECT COUNT(*) FROM invitations i WHERE i.organization_id = $1 AND i.accepted_at IS NULL \
                 AND i.revoked_at IS NULL AND i.expires_at > $2)",
    )
    .bind(org_id)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Serialises changes that count an organization's members (seats, owners). SQLite runs
/// one writer at a time already; PostgreSQL runs writers in parallel, so the organization
/// row is locked until the transaction ends and a second writer re-counts after it.
pub async fn lock(conn: &mut Conn, org_id: &str) -> Result<(), StoreError> {
    if conn.backend() == crate::Backend::Postgres {
        db::query("SELECT id FROM organizations WHERE id = $1 FOR UPDATE")
            .bind(org_id)
            .fetch_optional(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Refuses with the J9 message when `org` has no free seat.
pub async fn require_seat(conn: &mut Conn, org: &Organization, now: i64) -> Result<(), StoreError> {
    if org.seat_limit.is_none() {
        return Ok(());
    }
    lock(conn, &org.id).await?;
    let used = seats_used(conn, &org.id, now).await?;
    rules::check_seat_available(&org.name, org.seat_limit, used)?;
    Ok(())
}

async fn name_taken(conn: &mut Conn, name: &Name) -> Result<bool, StoreError> {
    let id: Option<String> = db::query_scalar("SELECT id FROM organizations WHERE name_key = $1")
        .bind(name.key())
        .fetch_optional(conn)
        .await?;
    Ok(id.is_some())
}

/// Creates an organization in `company` (id or name); without one, a company of the
/// same name is created for it (interfaces.md).
pub async fn create(
    conn: &mut Conn,
    ctx: &Ctx,
    name: &Name,
    company: Option<&str>,
    seat_limit: Option<i64>,
) -> Result<Organization, StoreError> {
    rules::check_seat_limit_change(seat_limit, 0)?;
    if name_taken(conn, name).await? {
        return Err(StoreError::conflict(
            "organization_exists",
            format!("an organization named '{}' already exists", name.as_str()),
        ));
    }
    let company = match company {
        Some(ident) => companies::find(conn, ident).await?,
        None => companies::create(conn, ctx, name).await?,
    };
    let id = new_id();
    db::query(
        "INSERT INTO organizations (id, company_id, name, name_key, seat_limit, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(&id)
    .bind(&company.id)
    .bind(name.as_str())
    .bind(name.key())
    .bind(seat_limit)
    .bind(ctx.now)
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "organization.create",
            object_kind: "organization",
            object_id: &id,
            company_id: Some(&company.id),
            organization_id: Some(&id),
            after: Some(json!({ "name": name.as_str(), "company": company.name, "seat_limit": seat_limit })),
            ..Default::default()
        },
    )
    .await?;
    find(conn, &id).await
}

#[derive(Debug, Default, Clone)]
pub struct Update {
    pub name: Option<Name>,
    /// `Some(None)` removes the limit.
    pub seat_limit: Option<Option<i64>>,
}

pub async fn update(conn: &mut Conn, ctx: &Ctx, ident: &str, up: Update) -> Result<Organization, StoreError> {
    let before = find(conn, ident).await?;
    let mut name = before.name.clone();
    if let Some(new) = &up.name {
        if new.key() != before.name.to_lowercase() && name_taken(conn, new).await? {
            return Err(StoreError::conflict(
                "organization_exists",
                format!("an organization named '{}' already exists", new.as_str()),
            ));
        }
        name = new.as_str().to_string();
    }
    let seat_limit = up.seat_limit.unwrap_or(before.seat_limit);
    if up.seat_limit.is_some() {
        let used = seats_used(conn, &before.id, ctx.now).await?;
        rules::check_seat_limit_change(seat_limit, used)?;
    }
    db::query("UPDATE organizations SET name = $1, name_key = $2, seat_limit = $3, updated_at = $4 WHERE id = $5")
        .bind(&name)
        .bind(name.to_lowercase())
        .bind(seat_limit)
        .bind(ctx.now)
        .bind(&before.id)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "organization.update",
            object_kind: "organization",
            object_id: &before.id,
            company_id: Some(&before.company_id),
            organization_id: Some(&before.id),
            before: Some(json!({ "name": before.name, "seat_limit": before.seat_limit })),
            after: Some(json!({ "name": name, "seat_limit": seat_limit })),
            ..Default::default()
        },
    )
    .await?;
    find(conn, &before.id).await
}

/// Deletes an organization with its teams, memberships and invitations. Refused while a
/// connection uses it as its default organization.
pub async fn delete(conn: &mut Conn, ctx: &Ctx, ident: &str) -> Result<(), StoreError> {
    let org = find(conn, ident).await?;
    let used_by: Vec<String> =
        db::query_scalar("SELECT name FROM connections WHERE default_organization_id = $1 ORDER BY name")
            .bind(&org.id)
            .fetch_all(&mut *conn)
            .await?;
    if !used_by.is_empty() {
        return Err(StoreError::conflict(
            "organization_in_use",
            format!(
                "organization '{}' is the default organization of connection(s) {}; change them first",
                org.name,
                used_by.join(", ")
            ),
        ));
    }
    // T2: removal from the organization ends the members' sessions for the company, and
    // what apps were granted through them.
    crate::oauth2::end_grants(
        conn,
        crate::oauth2::Ending::Organization {
            organization_id: &org.id,
            company_id: &org.company_id,
        },
        ctx.now,
        "organization_deleted",
    )
    .await?;
    let ended = db::query(
        "UPDATE sessions SET ended_at = $1 WHERE company_id = $2 AND ended_at IS NULL \
         AND user_id IN (SELECT user_id FROM memberships WHERE organization_id = $3)",
    )
    .bind(ctx.now)
    .bind(&org.company_id)
    .bind(&org.id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if ended > 0 {
        audit::record(
            conn,
            ctx,
            NewEvent {
                action: "session.end",
                object_kind: "organization",
                object_id: &org.id,
                company_id: Some(&org.company_id),
                organization_id: Some(&org.id),
                after: Some(json!({ "sessions_ended": ended, "why": "organization_deleted" })),
                ..Default::default()
            },
        )
        .await?;
    }
    db::query("DELETE FROM organizations WHERE id = $1")
        .bind(&org.id)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "organization.delete",
            object_kind: "organization",
            object_id: &org.id,
            company_id: Some(&org.company_id),
            organization_id: Some(&org.id),
            before: Some(json!({ "name": org.name, "seat_limit": org.seat_limit })),
            ..Default::default()
        },
    )
    .await
}
