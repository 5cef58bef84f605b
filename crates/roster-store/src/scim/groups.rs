//! SCIM Groups of a connection. Members live in their own table, so adding or removing
//! one member costs the same in a group of ten or of 100,000 (never a whole-group load).
//! G4: a Group named `organization:team` (an organization of the connection) is that
//! team; its members join and leave the team with the Group.

use super::filter_sql::Resource;
use super::{page, users, ListQuery};
use crate::audit::{self, Change};
use crate::connections::Connection;
use crate::db::{self, Conn, FromRow};
use crate::directory::organizations::{self, Organization};
use crate::directory::teams::{self, Team};
use crate::directory::{members, users as accounts};
use crate::{new_id, Ctx, StoreError};
use roster_core::signin::split_group;
use roster_core::{MemberState, Name, Role, Source};
use roster_scim::patch::MemberOp;
use roster_scim::ScimError;
use serde_json::{json, Map, Value};

#[derive(Debug, Clone)]
pub struct ScimGroup {
    pub id: String,
    pub connection_id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    /// G4: the team this Group is, when its name maps to one.
    pub team_id: Option<String>,
    /// The resource as sent, without `members`, `id` or `meta`.
    pub resource: Map<String, Value>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The columns [`from_row`] reads, for every select of Groups.
macro_rules! columns {
    () => {
        "r.id, r.connection_id, r.display_name, r.external_id, r.team_id, r.resource, r.version, r.created_at, \
         r.updated_at"
    };
}

const SELECT: &str = concat!("SELECT ", columns!(), " FROM scim_groups r");

fn from_row(row: &db::Row) -> Result<ScimGroup, StoreError> {
    let resource: String = row.try_get("resource")?;
    Ok(ScimGroup {
        id: row.try_get("id")?,
        connection_id: row.try_get("connection_id")?,
        display_name: row.try_get("display_name")?,
        external_id: row.try_get("external_id")?,
        team_id: row.try_get("team_id")?,
        resource: serde_json::from_str(&resource).unwrap_or_default(),
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub async fn get(conn: &mut Conn, connection_id: &str, id: &str) -> Result<Option<ScimGroup>, StoreError> {
    super::row(conn, SELECT, connection_id, id, false)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// The same, locked until the transaction ends (PostgreSQL runs writes in parallel: two
/// changes of one resource must not both build on the same version; S9).
pub async fn get_for_update(conn: &mut Conn, connection_id: &str, id: &str) -> Result<Option<ScimGroup>, StoreError> {
    super::row(conn, SELECT, connection_id, id, true)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// A page of the connection's Groups matching the query, and how many match in all.
pub async fn list(conn: &mut Conn, connection_id: &str, q: &ListQuery) -> Result<(i64, Vec<ScimGroup>), StoreError> {
    let (total, rows) = page(conn, "scim_groups", Resource::Groups, SELECT, connection_id, q).await?;
    Ok((total, rows.iter().map(from_row).collect::<Result<_, _>>()?))
}

/// How many member ids a Group is read with ([`get_with_members`], [`list_with_members`]).
/// A Group with more has the rest read in pages ([`members_after`]) while its answer
/// is sent, so that no request holds a large Group's members in memory at once.
pub const MEMBERS_READ_WITH_GROUP: usize = 200;

/// The most member ids [`members_after`] reads at once.
pub const MEMBER_PAGE: usize = 2_000;

/// A Group as it is answered: the resource, and its first member ids in id order (all of
/// them when fewer than [`MEMBERS_READ_WITH_GROUP`]).
#[derive(Debug, Clone)]
pub struct GroupWithMembers {
    pub group: ScimGroup,
    pub first_members: Vec<String>,
}

impl GroupWithMembers {
    /// A Group read without its members.
    pub fn alone(group: ScimGroup) -> Self {
        Self {
            group,
            first_members: Vec::new(),
        }
    }

    /// Whether [`Self::first_members`] may not be all of them.
    pub fn more_members(&self) -> bool {
        self.first_members.len() >= MEMBERS_READ_WITH_GROUP
    }
}

/// [`SELECT`] with a `first_members` column: the first member ids of each Group, by the
/// member index, in the same query (no query per Group).
fn select_with_members(backend: crate::Backend) -> &'static str {
    static SELECTS: std::sync::LazyLock<[String; 2]> = std::sync::LazyLock::new(|| {
        [crate::Backend::Sqlite, crate::Backend::Postgres].map(|backend| {
            let first = crate::json_list(
                backend,
                // Ordered by the aggregate itself: the order the database's own
                // comparison gives, the one `members_after` continues in.
                "m.scim_user_id ORDER BY m.scim_user_id",
                &format!(
                    "FROM (SELECT gm.scim_user_id FROM scim_group_members gm WHERE gm.group_id = r.id \
                     ORDER BY gm.scim_user_id LIMIT {MEMBERS_READ_WITH_GROUP}) m"
                ),
            );
            format!("SELECT {}, {first} AS first_members FROM scim_groups r", columns!())
        })
    });
    &SELECTS[usize::from(backend == crate::Backend::Postgres)]
}

fn with_members_from_row(row: &db::Row) -> Result<GroupWithMembers, StoreError> {
    let first_members: Vec<String> = crate::from_json_list(row, "first_members")?;
    Ok(GroupWithMembers {
        group: from_row(row)?,
        first_members,
    })
}

/// One Group of the connection with its first member ids.
pub async fn get_with_members(
    conn: &mut Conn,
    connection_id: &str,
    id: &str,
) -> Result<Option<GroupWithMembers>, StoreError> {
    let select = select_with_members(crate::backend_of(conn));
    super::row(conn, select, connection_id, id, false)
        .await?
        .as_ref()
        .map(with_members_from_row)
        .transpose()
}

/// [`list`], each Group with its first member ids.
pub async fn list_with_members(
    conn: &mut Conn,
    connection_id: &str,
    q: &ListQuery,
) -> Result<(i64, Vec<GroupWithMembers>), StoreError> {
    let select = select_with_members(crate::backend_of(conn));
    let (total, rows) = page(conn, "scim_groups", Resource::Groups, select, connection_id, q).await?;
    Ok((total, rows.iter().map(with_members_from_row).collect::<Result<_, _>>()?))
}

/// The first member ids of a Group, in id order (at most [`MEMBERS_READ_WITH_GROUP`]).
pub async fn first_members(conn: &mut Conn, group_id: &str) -> Result<Vec<String>, StoreError> {
    db::query_scalar(&format!(
        "SELECT scim_user_id FROM scim_group_members WHERE group_id = $1 ORDER BY scim_user_id \
         LIMIT {MEMBERS_READ_WITH_GROUP}"
    ))
    .bind(group_id)
    .fetch_all(conn)
    .await
}

/// Up to [`MEMBER_PAGE`] member ids of a Group that come after `after` in id order: one
/// range of the member index, however large the Group.
pub async fn members_after(conn: &mut Conn, group_id: &str, after: &str) -> Result<Vec<String>, StoreError> {
    db::query_scalar(&format!(
        "SELECT scim_user_id FROM scim_group_members WHERE group_id = $1 AND scim_user_id > $2 \
         ORDER BY scim_user_id LIMIT {MEMBER_PAGE}"
    ))
    .bind(group_id)
    .bind(after)
    .fetch_all(conn)
    .await
}

/// G4: the organization and team a displayName maps to (the team is created when
/// missing); `None` for a name that maps nothing.
async fn mapped_team(
    conn: &mut Conn,
    ctx: &Ctx,
    connection: &Connection,
    display_name: &str,
) -> Result<Option<(Organization, Team)>, StoreError> {
    let Some((org_name, team_name)) = split_group(display_name) else {
        return Ok(None);
    };
    if !connection
        .organizations
        .iter()
        .any(|o| o.eq_ignore_ascii_case(org_name))
    {
        return Ok(None);
    }
    let Ok(team_name) = Name::parse_team(team_name) else {
        return Ok(None);
    };
    let org = organizations::find(conn, org_name).await?;
    let team = teams::ensure(
        conn,
        &ctx.because("G4", format!("SCIM Group '{display_name}'")),
        &org,
        &team_name,
    )
    .await?;
    Ok(Some((org, team)))
}

/// The team a Group maps to and its organization, in one query.
async fn team_by_id(conn: &mut Conn, team_id: &str) -> Result<Option<(Organization, Team)>, StoreError> {
    let row = db::query(
        "SELECT t.id AS team_id, t.name AS team_name, t.created_at AS team_created_at, o.id, o.name, o.company_id, \
         c.name AS company, o.seat_limit, o.created_at, o.updated_at \
         FROM teams t JOIN organizations o ON o.id = t.organization_id JOIN companies c ON c.id = o.company_id \
         WHERE t.id = $1",
    )
    .bind(team_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let org = Organization::from_row(&r)?;
    let team = Team {
        id: r.try_get("team_id")?,
        organization_id: org.id.clone(),
        name: r.try_get("team_name")?,
        created_at: r.try_get("team_created_at")?,
        member_count: 0,
    };
    Ok(Some((org, team)))
}

/// G4: accounts join the Group's team (and its organization, as members, when they are
/// not in it yet; G5: the role is never taken from the team name).
async fn join(
    conn: &mut Conn,
    ctx: &Ctx,
    group: &ScimGroup,
    team: &Option<(Organization, Team)>,
    accounts: &[String],
) -> Result<(), StoreError> {
    let Some((org, team)) = team else { return Ok(()) };
    let ctx = ctx.because("G4", format!("member of SCIM Group '{}'", group.display_name));
    for uid in accounts {
        let member: Option<String> =
            db::query_scalar("SELECT state FROM memberships WHERE organization_id = $1 AND user_id = $2")
                .bind(&org.id)
                .bind(uid)
                .fetch_optional(&mut *conn)
                .await?;
        if member.is_none() {
            // S6: someone this connection deactivated joins new organizations deactivated
            // too (and takes no seat there), so a group cannot let them back in.
            let row = db::query("SELECT active FROM scim_users WHERE connection_id = $1 AND user_id = $2")
                .bind(&group.connection_id)
                .bind(uid)
                .fetch_optional(&mut *conn)
                .await?;
            let active = match &row {
                Some(r) => r.try_get::<bool, _>("active")?,
                None => true,
            };
            let state = if active {
                MemberState::Active
            } else {
                MemberState::Deactivated
            };
            let user = accounts::find(conn, uid).await?;
            members::insert(conn, &ctx, org, &user, Role::Member, state, Source::Scim).await?;
        }
        // A member of the organization now, either way.
        teams::add_known_member(conn, &ctx, org, team, uid, Source::Scim.as_str()).await?;
    }
    Ok(())
}

/// G4: a removal takes the account out of that team only.
async fn leave(
    conn: &mut Conn,
    ctx: &Ctx,
    group: &ScimGroup,
    team: &Option<(Organization, Team)>,
    accounts: &[String],
) -> Result<(), StoreError> {
    let Some((org, team)) = team else { return Ok(()) };
    let ctx = ctx.because("G4", format!("removed from SCIM Group '{}'", group.display_name));
    for uid in accounts {
        teams::take_out(conn, &ctx, org, team, uid).await?;
    }
    Ok(())
}

/// Validates member ids: each must be a User of this connection (400 otherwise, never a
/// silent skip). Returns the linked accounts among them.
async fn resolve(
    conn: &mut Conn,
    connection_id: &str,
    ids: &[String],
) -> Result<Vec<(String, Option<String>)>, StoreError> {
    let mut unique: Vec<String> = ids.to_vec();
    unique.sort();
    unique.dedup();
    let found = users::existing(conn, connection_id, &unique).await?;
    let found_ids: std::collections::HashSet<&str> = found.iter().map(|(f, _)| f.as_str()).collect();
    if let Some(missing) = unique.iter().find(|id| !found_ids.contains(id.as_str())) {
        return Err(StoreError::scim(ScimError::invalid_value(format!(
            "member '{missing}' is not a User of this connection"
        ))));
    }
    Ok(found)
}

async fn add(
    conn: &mut Conn,
    ctx: &Ctx,
    g: &ScimGroup,
    team: &Option<(Organization, Team)>,
    ids: &[String],
) -> Result<(), StoreError> {
    let found = resolve(conn, &g.connection_id, ids).await?;
    let mut joined = Vec::new();
    for (id, account) in found {
        let n =
            db::query("INSERT INTO scim_group_members (group_id, scim_user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(&g.id)
                .bind(&id)
                .execute(&mut *conn)
                .await?
                .rows_affected();
        if let (1, Some(a)) = (n, account) {
            joined.push(a);
        }
    }
    join(conn, ctx, g, team, &joined).await
}

async fn remove(
    conn: &mut Conn,
    ctx: &Ctx,
    g: &ScimGroup,
    team: &Option<(Organization, Team)>,
    ids: &[String],
) -> Result<(), StoreError> {
    let mut left = Vec::new();
    for id in ids {
        let n = db::query("DELETE FROM scim_group_members WHERE group_id = $1 AND scim_user_id = $2")
            .bind(&g.id)
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        if n == 1 {
            let account: Option<Option<String>> = db::query_scalar("SELECT user_id FROM scim_users WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
            if let Some(Some(a)) = account {
                left.push(a);
            }
        }
    }
    leave(conn, ctx, g, team, &left).await
}

async fn all_member_ids(conn: &mut Conn, group_id: &str) -> Result<Vec<String>, StoreError> {
    db::query_scalar("SELECT scim_user_id FROM scim_group_members WHERE group_id = $1")
        .bind(group_id)
        .fetch_all(conn)
        .await
}

async fn apply_members(
    conn: &mut Conn,
    ctx: &Ctx,
    g: &ScimGroup,
    team: &Option<(Organization, Team)>,
    ops: &[MemberOp],
) -> Result<(), StoreError> {
    for op in ops {
        match op {
            MemberOp::Add(ids) => add(conn, ctx, g, team, ids).await?,
            MemberOp::Remove(ids) => remove(conn, ctx, g, team, ids).await?,
            MemberOp::RemoveAll => {
                let all = all_member_ids(conn, &g.id).await?;
                remove(conn, ctx, g, team, &all).await?;
            }
            MemberOp::Replace(ids) => {
                // Replacing the whole list is inherently as large as the list.
                resolve(conn, &g.connection_id, ids).await?;
                let current = all_member_ids(conn, &g.id).await?;
                let wanted: std::collections::HashSet<&String> = ids.iter().collect();
                let have: std::collections::HashSet<&String> = current.iter().collect();
                let gone: Vec<String> = current.iter().filter(|c| !wanted.contains(c)).cloned().collect();
                let new: Vec<String> = ids.iter().filter(|i| !have.contains(i)).cloned().collect();
                remove(conn, ctx, g, team, &gone).await?;
                add(conn, ctx, g, team, &new).await?;
            }
        }
    }
    Ok(())
}

fn display_name_of(doc: &Map<String, Value>) -> Result<String, StoreError> {
    match doc.get("displayName").and_then(Value::as_str).map(str::trim) {
        Some(d) if !d.is_empty() && d.chars().count() <= 256 => Ok(d.to_string()),
        _ => Err(StoreError::scim(ScimError::invalid_value(
            "displayName is required: 1 to 256 characters",
        ))),
    }
}

async fn write_row(conn: &mut Conn, g: &ScimGroup, insert: bool, expected_version: i64) -> Result<(), StoreError> {
    let sql = if insert {
        "INSERT INTO scim_groups (id, connection_id, display_name, display_name_key, external_id, team_id, resource, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    } else {
        "UPDATE scim_groups SET connection_id = $2, display_name = $3, display_name_key = $4, external_id = $5, team_id = $6, \
         resource = $7, version = $8, created_at = $9, updated_at = $10 WHERE id = $1 AND version = $11"
    };
    let q = db::query(sql)
        .bind(&g.id)
        .bind(&g.connection_id)
        .bind(&g.display_name)
        .bind(g.display_name.to_lowercase())
        .bind(g.external_id.as_deref())
        .bind(g.team_id.as_deref())
        .bind(crate::json_text(&g.resource)?)
        .bind(g.version)
        .bind(g.created_at)
        .bind(g.updated_at);
    // The version condition is in the UPDATE only.
    let q = if insert { q } else { q.bind(expected_version) };
    let n = q.execute(conn).await?.rows_affected();
    // A concurrent change got there first (PostgreSQL runs writes in parallel): the
    // version this request read is gone, as If-Match would have said (S9).
    if !insert && n == 0 {
        return Err(StoreError::Scim {
            status: 412,
            scim_type: None,
            detail: "the resource changed meanwhile; read it again".into(),
        });
    }
    Ok(())
}

async fn record(conn: &mut Conn, ctx: &Ctx, g: &ScimGroup, action: &str) -> Result<(), StoreError> {
    audit::record(
        conn,
        ctx,
        Change {
            action,
            object_kind: "scim_group",
            object_id: &g.id,
            connection_id: Some(&g.connection_id),
            after: Some(json!({ "displayName": g.display_name, "externalId": g.external_id, "team_id": g.team_id })),
            ..Default::default()
        },
    )
    .await
}

/// SCIM POST /Groups.
pub async fn create(
    conn: &mut Conn,
    ctx: &Ctx,
    connection: &Connection,
    doc: Map<String, Value>,
    member_ids: &[String],
) -> Result<ScimGroup, StoreError> {
    let display_name = display_name_of(&doc)?;
    let team = mapped_team(conn, ctx, connection, &display_name).await?;
    let g = ScimGroup {
        id: new_id(),
        connection_id: connection.id.clone(),
        external_id: doc.get("externalId").and_then(Value::as_str).map(str::to_string),
        display_name,
        team_id: team.as_ref().map(|(_, t)| t.id.clone()),
        resource: doc,
        version: 1,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    write_row(conn, &g, true, 0).await?;
    record(conn, ctx, &g, "scim_group.create").await?;
    add(conn, ctx, &g, &team, member_ids).await?;
    Ok(g)
}

/// SCIM PUT/PATCH /Groups/{id}: `doc` is the Group after the request (without members),
/// `member_ops` the member changes in order.
pub async fn update(
    conn: &mut Conn,
    ctx: &Ctx,
    connection: &Connection,
    current: &ScimGroup,
    doc: Map<String, Value>,
    member_ops: &[MemberOp],
) -> Result<ScimGroup, StoreError> {
    let display_name = display_name_of(&doc)?;
    let old_team = match &current.team_id {
        Some(t) => team_by_id(conn, t).await?,
        None => None,
    };
    let new_team = if display_name == current.display_name {
        old_team.clone()
    } else {
        mapped_team(conn, ctx, connection, &display_name).await?
    };
    let g = ScimGroup {
        external_id: doc.get("externalId").and_then(Value::as_str).map(str::to_string),
        display_name,
        team_id: new_team.as_ref().map(|(_, t)| t.id.clone()),
        resource: doc,
        version: current.version + 1,
        updated_at: ctx.now,
        ..current.clone()
    };
    // A rename that changes the mapped team moves the members with it (G4).
    if old_team.as_ref().map(|(_, t)| &t.id) != new_team.as_ref().map(|(_, t)| &t.id) {
        let accounts: Vec<String> = db::query_scalar(
            "SELECT u.user_id FROM scim_group_members gm JOIN scim_users u ON u.id = gm.scim_user_id \
             WHERE gm.group_id = $1 AND u.user_id IS NOT NULL",
        )
        .bind(&g.id)
        .fetch_all(&mut *conn)
        .await?;
        leave(conn, ctx, current, &old_team, &accounts).await?;
        join(conn, ctx, &g, &new_team, &accounts).await?;
    }
    write_row(conn, &g, false, current.version).await?;
    record(conn, ctx, &g, "scim_group.update").await?;
    apply_members(conn, ctx, &g, &new_team, member_ops).await?;
    Ok(g)
}

/// SCIM DELETE /Groups/{id}: its members leave its team (G4).
pub async fn delete(conn: &mut Conn, ctx: &Ctx, current: &ScimGroup) -> Result<(), StoreError> {
    let team = match &current.team_id {
        Some(t) => team_by_id(conn, t).await?,
        None => None,
    };
    let all = all_member_ids(conn, &current.id).await?;
    remove(conn, ctx, current, &team, &all).await?;
    db::query("DELETE FROM scim_groups WHERE id = $1")
        .bind(&current.id)
        .execute(&mut *conn)
        .await?;
    record(conn, ctx, current, "scim_group.delete").await
}
