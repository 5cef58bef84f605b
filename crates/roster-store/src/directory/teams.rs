use super::is_id;
use crate::audit::{self, NewEvent};
use crate::db::{self, Conn};
use crate::directory::organizations::Organization;
use crate::{new_id, Ctx, StoreError};
use roster_core::Name;
use serde::Serialize;
use serde_json::json;

#[derive(Debug, Clone, Serialize)]
pub struct Team {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub created_at: i64,
    pub member_count: i64,
}

db::from_row!(Team {
    id,
    organization_id,
    name,
    created_at,
    member_count
});

/// With member counts: for listings shown to admins.
const SELECT: &str = "SELECT t.id, t.organization_id, t.name, t.created_at, \
                      (SELECT COUNT(*) FROM team_members m WHERE m.team_id = t.id) AS member_count FROM teams t";
/// Without: what provisioning reads on every sign-in, which must not cost O(team size).
const SELECT_LITE: &str = "SELECT t.id, t.organization_id, t.name, t.created_at, 0 AS member_count FROM teams t";

/// A team of `org` by id or name (`member_count` is not read: see [`find_counted`]).
pub async fn find(conn: &mut Conn, org: &Organization, ident: &str) -> Result<Team, StoreError> {
    let (sql, key) = if is_id(ident) {
        (
            format!("{SELECT_LITE} WHERE t.organization_id = $1 AND t.id = $2"),
            ident.to_string(),
        )
    } else {
        (
            format!("{SELECT_LITE} WHERE t.organization_id = $1 AND t.name_key = $2"),
            ident.to_lowercase(),
        )
    };
    db::query_as(&sql)
        .bind(&org.id)
        .bind(key)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| StoreError::not_found("team", format!("{}/{ident}", org.name)))
}

/// A team with its member count (one indexed count), for answers to admins.
pub async fn find_counted(conn: &mut Conn, org: &Organization, ident: &str) -> Result<Team, StoreError> {
    let mut team = find(conn, org, ident).await?;
    team.member_count = db::query_scalar("SELECT COUNT(*) FROM team_members WHERE team_id = $1")
        .bind(&team.id)
        .fetch_one(conn)
        .await?;
    Ok(team)
}

pub async fn list(conn: &mut Conn, org: &Organization) -> Result<Vec<Team>, StoreError> {
    db::query_as(&format!("{SELECT} WHERE t.organization_id = $1 ORDER BY t.name_key"))
        .bind(&org.id)
        .fetch_all(conn)
        .await
}

async fn name_taken(conn: &mut Conn, org: &Organization, name: &Name) -> Result<bool, StoreError> {
    let id: Option<String> = db::query_scalar("SELECT id FROM teams WHERE organization_id = $1 AND name_key = $2")
        .bind(&org.id)
        .bind(name.key())
        .fetch_optional(conn)
        .await?;
    Ok(id.is_some())
}

fn exists(org: &Organization, name: &Name) -> StoreError {
    StoreError::conflict(
        "team_exists",
        format!(
            "organization '{}' already has a team named '{}'",
            org.name,
            name.as_str()
        ),
    )
}

pub async fn create(conn: &mut Conn, ctx: &Ctx, org: &Organization, name: &Name) -> Result<Team, StoreError> {
    if name_taken(conn, org, name).await? {
        return Err(exists(org, name));
    }
    let id = new_id();
    db::query("INSERT INTO teams (id, organization_id, name, name_key, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)")
        .bind(&id)
        .bind(&org.id)
        .bind(name.as_str())
        .bind(name.key())
        .bind(ctx.now)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "team.create",
            object_kind: "team",
            object_id: &id,
            company_id: Some(&org.company_id),
            organization_id: Some(&org.id),
            after: Some(json!({ "name": name.as_str(), "organization": org.name })),
            ..Default::default()
        },
    )
    .await?;
    find_counted(conn, org, &id).await
}

/// The team `name` of `org`, created (with its audit event) when missing. Safe under
/// concurrency: two sign-ins creating one team both get it (the insert that loses the
/// race does nothing).
pub async fn ensure(conn: &mut Conn, ctx: &Ctx, org: &Organization, name: &Name) -> Result<Team, StoreError> {
    if let Ok(team) = find(conn, org, name.as_str()).await {
        return Ok(team);
    }
    let id = new_id();
    let inserted = db::query(
        "INSERT INTO teams (id, organization_id, name, name_key, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT DO NOTHING",
    )
    .bind(&id)
    .bind(&org.id)
    .bind(name.as_str())
    .bind(name.key())
    .bind(ctx.now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1 {
        audit::record(
            conn,
            ctx,
            NewEvent {
                action: "team.create",
                object_kind: "team",
                object_id: &id,
                company_id: Some(&org.company_id),
                organization_id: Some(&org.id),
                after: Some(json!({ "name": name.as_str(), "organization": org.name })),
                ..Default::default()
            },
        )
        .await?;
    }
    find(conn, org, name.as_str()).await
}

pub async fn rename(
    conn: &mut Conn,
    ctx: &Ctx,
    org: &Organization,
    ident: &str,
    name: &Name,
) -> Result<Team, StoreError> {
    let team = find(conn, org, ident).await?;
    if name.key() != team.name.to_lowercase() && name_taken(conn, org, name).await? {
        return Err(exists(org, name));
    }
    db::query("UPDATE teams SET name = $1, name_key = $2, updated_at = $3 WHERE id = $4")
        .bind(name.as_str())
        .bind(name.key())
        .bind(ctx.now)
        .bind(&team.id)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "team.update",
            object_kind: "team",
            object_id: &team.id,
            company_id: Some(&org.company_id),
            organization_id: Some(&org.id),
            before: Some(json!({ "name": team.name })),
            after: Some(json!({ "name": name.as_str() })),
            ..Default::default()
        },
    )
    .await?;
    find_counted(conn, org, &team.id).await
}

pub async fn delete(conn: &mut Conn, ctx: &Ctx, org: &Organization, ident: &str) -> Result<(), StoreError> {
    let team = find_counted(conn, org, ident).await?;
    db::query("DELETE FROM teams WHERE id = $1")
        .bind(&team.id)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "team.delete",
            object_kind: "team",
            object_id: &team.id,
            company_id: Some(&org.company_id),
            organization_id: Some(&org.id),
            before: Some(json!({ "name": team.name, "member_count": team.member_count })),
            ..Default::default()
        },
    )
    .await
}

/// Adds a member of `org` to `team`; a no-op when they are in it already.
pub async fn add_member(
    conn: &mut Conn,
    ctx: &Ctx,
    org: &Organization,
    team: &Team,
    user_id: &str,
    source: &str,
) -> Result<bool, StoreError> {
    let member: Option<String> =
        db::query_scalar("SELECT state FROM memberships WHERE organization_id = $1 AND user_id = $2")
            .bind(&org.id)
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?;
    if member.is_none() {
        return Err(StoreError::conflict(
            "not_a_member",
            format!(
                "the user is not a member of organization '{}'; add them to the organization first",
                org.name
            ),
        ));
    }
    let added = add_known_member(conn, ctx, org, team, user_id, source).await?;
    if added {
        touch_membership(conn, ctx, &org.id, user_id).await?;
    }
    Ok(added)
}

/// [`add_member`] for a caller that has just made the user's membership of the
/// organization in this transaction (so its `updated_at` is now already).
pub async fn add_known_member(
    conn: &mut Conn,
    ctx: &Ctx,
    org: &Organization,
    team: &Team,
    user_id: &str,
    source: &str,
) -> Result<bool, StoreError> {
    let inserted = db::query(
        "INSERT INTO team_members (team_id, user_id, source, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(&team.id)
    .bind(user_id)
    .bind(source)
    .bind(ctx.now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(false);
    }
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "team_member.add",
            object_kind: "team",
            object_id: &team.id,
            company_id: Some(&org.company_id),
            organization_id: Some(&org.id),
            user_id: Some(user_id),
            after: Some(json!({ "team": team.name, "source": source })),
            ..Default::default()
        },
    )
    .await?;
    Ok(true)
}

pub async fn remove_member(
    conn: &mut Conn,
    ctx: &Ctx,
    org: &Organization,
    team: &Team,
    user_id: &str,
) -> Result<(), StoreError> {
    if !take_out(conn, ctx, org, team, user_id).await? {
        return Err(StoreError::not_found(
            "team member",
            format!("{}/{}/{user_id}", org.name, team.name),
        ));
    }
    Ok(())
}

/// Removes `user_id` from `team` if they are in it; returns whether they were.
pub async fn take_out(
    conn: &mut Conn,
    ctx: &Ctx,
    org: &Organization,
    team: &Team,
    user_id: &str,
) -> Result<bool, StoreError> {
    let removed = db::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2")
        .bind(&team.id)
        .bind(user_id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if removed == 0 {
        return Ok(false);
    }
    touch_membership(conn, ctx, &org.id, user_id).await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "team_member.remove",
            object_kind: "team",
            object_id: &team.id,
            company_id: Some(&org.company_id),
            organization_id: Some(&org.id),
            user_id: Some(user_id),
            before: Some(json!({ "team": team.name })),
            ..Default::default()
        },
    )
    .await?;
    Ok(true)
}

/// A member's teams are part of their membership: joining or leaving a team moves the
/// membership's `updated_at`, which the directory's `updated_since` reads.
async fn touch_membership(conn: &mut Conn, ctx: &Ctx, org_id: &str, user_id: &str) -> Result<(), StoreError> {
    db::query("UPDATE memberships SET updated_at = $1 WHERE organization_id = $2 AND user_id = $3")
        .bind(ctx.now)
        .bind(org_id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}
