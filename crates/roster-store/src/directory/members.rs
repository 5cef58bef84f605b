use super::deprovision::{self, Receipt, Revoked};
use super::organizations::{self, Organization};
use super::teams;
use super::users::{self, Profile, User};
use crate::audit::{self, NewEvent};
use crate::db::{self, Conn};
use crate::{Ctx, StoreError};
use roster_core::rules::{self, OwnerView};
use roster_core::{Email, MemberState, Role, Source};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;

#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub username: String,
    pub full_name: String,
    pub role: Role,
    pub state: MemberState,
    pub source: Source,
    pub teams: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

macro_rules! member_columns {
    () => {
        "SELECT u.id, u.email, u.username, u.full_name, m.role, m.state, m.source, m.created_at, m.updated_at"
    };
}
const COLUMNS: &str = member_columns!();
const SELECT: &str = concat!(
    member_columns!(),
    " FROM memberships m JOIN users u ON u.id = m.user_id"
);

fn member_from_row(r: &db::Row) -> Result<Member, StoreError> {
    let text = |c: &str| -> Result<String, StoreError> { r.try_get::<String, _>(c) };
    Ok(Member {
        user_id: text("id")?,
        email: text("email")?,
        username: text("username")?,
        full_name: text("full_name")?,
        role: Role::parse(&text("role")?).map_err(crate::error::corrupt)?,
        state: MemberState::parse(&text("state")?).map_err(crate::error::corrupt)?,
        source: Source::parse(&text("source")?).map_err(crate::error::corrupt)?,
        teams: Vec::new(),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Team names per user within `org`, for `user_ids`: one query for a whole page of
/// members (by the `team_members(user_id)` index), never one per member, and never a
/// walk over the ids between a filtered page's first and last.
async fn teams_by_user(
    conn: &mut Conn,
    org_id: &str,
    user_ids: &[&str],
) -> Result<HashMap<String, Vec<String>>, StoreError> {
    if user_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let placeholders: Vec<String> = (2..user_ids.len() + 2).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT tm.user_id, t.name FROM team_members tm JOIN teams t ON t.id = tm.team_id \
         WHERE t.organization_id = $1 AND tm.user_id IN ({}) ORDER BY t.name_key",
        placeholders.join(", ")
    );
    let mut q = db::query(&sql).bind(org_id);
    for id in user_ids {
        q = q.bind(*id);
    }
    let rows = q.fetch_all(conn).await?;
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for r in rows {
        map.entry(r.try_get("user_id")?).or_default().push(r.try_get("name")?);
    }
    Ok(map)
}

/// Which members a listing keeps.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub state: Option<MemberState>,
    pub role: Option<Role>,
    /// Emails starting with this (case-insensitive).
    pub email_prefix: Option<String>,
}

/// A page of `org`'s members ordered by user id, after the user id `after` (keyset
/// paging over the membership primary key).
pub async fn list(
    conn: &mut Conn,
    org: &Organization,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Member>, StoreError> {
    list_filtered(conn, org, &Filter::default(), after, limit).await
}

/// [`list`], keeping the members `filter` matches.
pub async fn list_filtered(
    conn: &mut Conn,
    org: &Organization,
    filter: &Filter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Member>, StoreError> {
    let prefix = filter
        .email_prefix
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(str::to_lowercase);
    // An email prefix is read from the index on `email_key` by range: on SQLite, whose
    // binary order makes a prefix the range [prefix, prefix + U+10FFFF); on PostgreSQL by
    // LIKE, through its `text_pattern_ops` index.
    let email = match (conn.backend(), &prefix) {
        (_, None) => "$3 IS NULL",
        (crate::Backend::Sqlite, Some(_)) => "u.email_key >= $3 AND u.email_key < $3 || char(1114111)",
        (crate::Backend::Postgres, Some(_)) => "u.email_key LIKE $3 || '%' ESCAPE '\\'",
    };
    let bound = match (conn.backend(), prefix) {
        (crate::Backend::Postgres, Some(p)) => Some(users::escape_like(&p)),
        (_, p) => p,
    };
    // With a prefix, the people it names come first and their memberships are looked
    // up (SQLite keeps a CROSS JOIN's order; PostgreSQL plans it as any join).
    // A filter on a rare role or state reads that one's partial index. SQLite is told
    // (without statistics it takes a wide table's own key as cheaper); PostgreSQL's
    // statistics choose it.
    let rare = match (conn.backend(), filter.state, filter.role) {
        (crate::Backend::Postgres, _, _) => "",
        (_, Some(MemberState::Deactivated), _) => " INDEXED BY memberships_org_deactivated",
        (_, _, Some(Role::Owner)) => " INDEXED BY memberships_org_owners",
        (_, _, Some(Role::Editor)) => " INDEXED BY memberships_org_editors",
        _ => "",
    };
    let from = if bound.is_some() {
        format!("FROM users u CROSS JOIN memberships m{rare} WHERE m.user_id = u.id AND")
    } else {
        format!("FROM memberships m{rare} JOIN users u ON u.id = m.user_id WHERE")
    };
    // Role and state are written as constants (they are the enums' own names), so the
    // planners can read the partial indexes of the rare ones (owners, editors,
    // deactivated members) instead of every membership.
    let role = filter
        .role
        .map_or(String::new(), |r| format!(" AND m.role = '{}'", r.as_str()));
    let state = filter
        .state
        .map_or(String::new(), |s| format!(" AND m.state = '{}'", s.as_str()));
    let rows = db::query(&format!(
        "{COLUMNS} {from} m.organization_id = $1 AND m.user_id > $2{state}{role} \
         AND {email} ORDER BY m.user_id LIMIT $4"
    ))
    .bind(&org.id)
    .bind(after.unwrap_or(""))
    .bind(bound)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut members = rows.iter().map(member_from_row).collect::<Result<Vec<_>, _>>()?;
    let ids: Vec<String> = members.iter().map(|m| m.user_id.clone()).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut teams = teams_by_user(conn, &org.id, &ids).await?;
    for m in &mut members {
        m.teams = teams.remove(&m.user_id).unwrap_or_default();
    }
    Ok(members)
}

pub async fn find(conn: &mut Conn, org: &Organization, user_ident: &str) -> Result<Member, StoreError> {
    let user = users::find(conn, user_ident).await?;
    let row = db::query(&format!("{SELECT} WHERE m.organization_id = $1 AND m.user_id = $2"))
        .bind(&org.id)
        .bind(&user.id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found("member", format!("{}/{user_ident}", org.name)))?;
    let mut member = member_from_row(&row)?;
    member.teams = teams_by_user(conn, &org.id, &[user.id.as_str()])
        .await?
        .remove(&user.id)
        .unwrap_or_default();
    Ok(member)
}

/// Active owners of the organization, counted under its lock so that two concurrent
/// changes cannot both remove "the other" owner.
async fn active_owners(conn: &mut Conn, org_id: &str) -> Result<i64, StoreError> {
    organizations::lock(conn, org_id).await?;
    db::query_scalar(
        "SELECT COUNT(*) FROM memberships WHERE organization_id = $1 AND role = 'owner' AND state = 'active'",
    )
    .bind(org_id)
    .fetch_one(conn)
    .await
}

/// Adds `user` to `org` with `role`, taking a seat (J9). The caller has checked that the
/// user is not a member yet.
pub async fn insert(
    conn: &mut Conn,
    ctx: &Ctx,
    org: &Organization,
    user: &User,
    role: Role,
    state: MemberState,
    source: Source,
) -> Result<(), StoreError> {
    // A deactivated member takes no seat (J9).
    if state == MemberState::Active {
        organizations::require_seat(conn, org, ctx.now).await?;
    }
    db::query(
        "INSERT INTO memberships (organization_id, user_id, role, state, source, created_at, updated_at) \
         VALUES ($1, $2, $3, $6, $4, $5, $5)",
    )
    .bind(&org.id)
    .bind(&user.id)
    .bind(role.as_str())
    .bind(source.as_str())
    .bind(ctx.now)
    .bind(state.as_str())
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "membership.add",
            object_kind: "membership",
            object_id: &format!("{}/{}", org.id, user.id),
            company_id: Some(&org.company_id),
            organization_id: Some(&org.id),
            user_id: Some(&user.id),
            after: Some(json!({ "organization": org.name, "email": user.email, "role": role, "state": state, "source": source })),
            ..Default::default()
        },
    )
    .await
}

/// An admin adds a member by email (source `admin`), creating the account if needed,
/// and puts them in `team_names` (existing teams of the organization).
pub async fn add_by_admin(
    conn: &mut Conn,
    ctx: &Ctx,
    org: &Organization,
    email: &Email,
    role: Role,
    team_names: &[String],
    profile: &Profile,
) -> Result<Member, StoreError> {
    let mut team_list = Vec::with_capacity(team_names.len());
    for t in team_names {
        team_list.push(teams::find(conn, org, t).await?);
    }
    let (user, _) = users::get_or_create(conn, ctx, email, profile).await?;
    let existing: Option<String> =
        db::query_scalar("SELECT state FROM memberships WHERE organization_id = $1 AND user_id = $2")
            .bind(&org.id)
            .bind(&user.id)
            .fetch_optional(&mut *conn)
            .await?;
    if existing.is_some() {
        return Err(StoreError::conflict(
            "member_exists",
            format!("'{}' is already a member of '{}'", user.email, org.name),
        ));
    }
    insert(conn, ctx, org, &user, role, MemberState::Active, Source::Admin).await?;
    for team in &team_list {
        teams::add_known_member(conn, ctx, org, team, &user.id, Source::Admin.as_str()).await?;
    }
    find(conn, org, &user.id).await
}

/// A manual change of role and/or state. Reactivation takes a seat again (J9); the last
/// active owner cannot be demoted or deactivated.
pub async fn update(
    conn: &mut Conn,
    ctx: &Ctx,
    org: &Organization,
    user_ident: &str,
    role: Option<Role>,
    state: Option<MemberState>,
) -> Result<Member, StoreError> {
    let before = find(conn, org, user_ident).await?;
    let after = OwnerView {
        role: role.unwrap_or(before.role),
        state: state.unwrap_or(before.state),
    };
    if after.role == before.role && after.state == before.state {
        return Ok(before);
    }
    let owners = active_owners(conn, &org.id).await?;
    rules::check_last_owner(
        owners,
        OwnerView {
            role: before.role,
            state: before.state,
        },
        Some(after),
    )?;
    if before.state == MemberState::Deactivated && after.state == MemberState::Active {
        organizations::require_seat(conn, org, ctx.now).await?;
    }
    if let Some(revoked) = set(conn, ctx, org, &before, after.role, after.state).await? {
        let mut receipt = Receipt::new(&org.company_id, &before.user_id, ctx.connection_id.as_deref());
        receipt.membership(org, "deactivated");
        receipt.revoked(revoked);
        receipt.record(conn, ctx).await?;
    }
    find(conn, org, &before.user_id).await
}

/// Writes a membership's role and state, with its audit event. Deactivation ends the
/// user's sessions for the company (S6, T2) and answers what that revoked, for the
/// caller's deprovisioning receipt. The caller has applied the rules.
pub async fn set(
    conn: &mut Conn,
    ctx: &Ctx,
    org: &Organization,
    before: &Member,
    role: Role,
    state: MemberState,
) -> Result<Option<Revoked>, StoreError> {
    db::query(
        "UPDATE memberships SET role = $1, state = $2, updated_at = $3 WHERE organization_id = $4 AND user_id = $5",
    )
    .bind(role.as_str())
    .bind(state.as_str())
    .bind(ctx.now)
    .bind(&org.id)
    .bind(&before.user_id)
    .execute(&mut *conn)
    .await?;
    let revoked = if rules::deactivation_ends_sessions(before.state, state) {
        Some(end_sessions(conn, &before.user_id, &org.company_id, ctx.now).await?)
    } else {
        None
    };
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "membership.update",
            object_kind: "membership",
            object_id: &format!("{}/{}", org.id, before.user_id),
            company_id: Some(&org.company_id),
            organization_id: Some(&org.id),
            user_id: Some(&before.user_id),
            before: Some(json!({ "role": before.role, "state": before.state })),
            after: Some(json!({ "role": role, "state": state })),
            ..Default::default()
        },
    )
    .await?;
    // Their first active membership in the company back: active there again.
    if before.state == MemberState::Deactivated
        && state == MemberState::Active
        && deprovision::active_memberships(conn, &before.user_id, &org.company_id).await? == 1
    {
        deprovision::user_state(
            conn,
            ctx,
            &org.company_id,
            &before.user_id,
            ctx.connection_id.as_deref(),
            true,
        )
        .await?;
    }
    Ok(revoked)
}

/// Removes a member and their teams in `org`, and ends their sessions for the company
/// (T2). The last active owner cannot be removed.
pub async fn remove(conn: &mut Conn, ctx: &Ctx, org: &Organization, user_ident: &str) -> Result<(), StoreError> {
    let before = find(conn, org, user_ident).await?;
    let owners = active_owners(conn, &org.id).await?;
    rules::check_last_owner(
        owners,
        OwnerView {
            role: before.role,
            state: before.state,
        },
        None,
    )?;
    db::query(
        "DELETE FROM team_members WHERE user_id = $1 AND team_id IN (SELECT id FROM teams WHERE organization_id = $2)",
    )
    .bind(&before.user_id)
    .bind(&org.id)
    .execute(&mut *conn)
    .await?;
    db::query("DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2")
        .bind(&org.id)
        .bind(&before.user_id)
        .execute(&mut *conn)
        .await?;
    let revoked = end_sessions(conn, &before.user_id, &org.company_id, ctx.now).await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "membership.remove",
            object_kind: "membership",
            object_id: &format!("{}/{}", org.id, before.user_id),
            company_id: Some(&org.company_id),
            organization_id: Some(&org.id),
            user_id: Some(&before.user_id),
            before: Some(
                json!({ "email": before.email, "role": before.role, "state": before.state, "teams": before.teams }),
            ),
            ..Default::default()
        },
    )
    .await?;
    let mut receipt = Receipt::new(&org.company_id, &before.user_id, ctx.connection_id.as_deref());
    receipt.membership(org, "removed");
    receipt.revoked(revoked);
    receipt.record(conn, ctx).await
}

/// T2: ends the user's live sessions for the company at once.
/// What apps were granted through them ends too, and the apps that asked are told
/// (back-channel logout).
pub async fn end_sessions(conn: &mut Conn, user_id: &str, company_id: &str, now: i64) -> Result<Revoked, StoreError> {
    let grants = crate::oauth2::end_grants(
        conn,
        crate::oauth2::Ending::User { user_id, company_id },
        now,
        "member_deactivated_or_removed",
    )
    .await?;
    let sessions =
        db::query("UPDATE sessions SET ended_at = $1 WHERE user_id = $2 AND company_id = $3 AND ended_at IS NULL")
            .bind(now)
            .bind(user_id)
            .bind(company_id)
            .execute(conn)
            .await?
            .rows_affected();
    Ok(Revoked {
        sessions_ended: sessions,
        app_grants_revoked: grants.grants,
        refresh_tokens_revoked: grants.refresh_tokens,
        apps_notified: grants.apps_notified,
    })
}

/// The teams (id, name) of `user_id` within `org`, by name.
pub async fn teams_with_ids(
    conn: &mut Conn,
    org: &Organization,
    user_id: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    let rows = db::query(
        "SELECT t.id, t.name FROM team_members tm JOIN teams t ON t.id = tm.team_id \
         WHERE tm.user_id = $1 AND t.organization_id = $2 ORDER BY t.name_key",
    )
    .bind(user_id)
    .bind(&org.id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("name")?)))
        .collect()
}
