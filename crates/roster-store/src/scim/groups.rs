//! SCIM Groups of a connection. Members live in their own table, so adding or removing
//! one member costs the same in a group of ten or of 100,000 (never a whole-group load).
//! What a Group's members mean for teams (G4) is decided in roster-core and run by the
//! server's SCIM service; this module keeps the rows.

use super::filter_sql::Resource;
use super::{page, users, ListQuery, RowLock};
use crate::audit::{self, NewEvent};
use crate::db::{self, Conn, FromRow};
use crate::directory::organizations::Organization;
use crate::directory::teams::Team;
use crate::{Ctx, StoreError};
use roster_core::group_plan::Joiner;
use roster_core::plan::RefusalKind;
use roster_core::MemberState;
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

/// The advisory lock class of a Group's writers ("rost").
macro_rules! lock_class {
    () => {
        "1919906676"
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
        resource: crate::from_json_text(&resource)?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub async fn get(conn: &mut Conn, connection_id: &str, id: &str) -> Result<Option<ScimGroup>, StoreError> {
    super::row(conn, SELECT, connection_id, id, RowLock::None)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// [`SELECT`] taking a Group's writers' lock (PostgreSQL) before its row lock: an
/// advisory lock of class "rost" (0x726f7374) keyed by the id's hash. Changes of
/// members alone take it shared ([`get_for_member_change`]), any other change exclusive
/// ([`get_for_update`]). A row lock cannot be the shared one: a row's shared holders
/// let more join them while an exclusive request waits, so a steady stream of member
/// changes could hold off a rename as long as it lasts, and once several hold it, the
/// row's every later version records them all (a MultiXact), which each read of the
/// row must then look up. Advisory locks queue later shared requests behind a waiting
/// exclusive one, and leave the row alone. Two Groups whose ids hash alike only wait
/// for each other now and then.
const SELECT_EXCLUSIVE: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM scim_groups r CROSS JOIN LATERAL pg_advisory_xact_lock(",
    lock_class!(),
    ", hashtext(r.id))"
);

/// One Group locked against every other change until the transaction ends (PostgreSQL
/// runs writes in parallel: two changes of one resource must not both build on the same
/// version; S9).
pub async fn get_for_update(conn: &mut Conn, connection_id: &str, id: &str) -> Result<Option<ScimGroup>, StoreError> {
    let select = match crate::backend_of(conn) {
        crate::Backend::Sqlite => SELECT,
        crate::Backend::Postgres => SELECT_EXCLUSIVE,
    };
    super::row(conn, select, connection_id, id, RowLock::Update)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// One Group for a change of its members alone (adding or removing the members it
/// names; G4), locked until the transaction ends against every change but another of
/// that kind: the Group's name, and so its team, stay as read, and it is not deleted.
/// Such changes of one Group run side by side; each moves the version on at its end
/// ([`bump_version`]), so they queue only for that and their commits.
///
/// The lock comes first, then the read, each a statement: a read that waited for the
/// lock within its own statement would return the Group as it was before the wait.
pub async fn get_for_member_change(
    conn: &mut Conn,
    connection_id: &str,
    id: &str,
) -> Result<Option<ScimGroup>, StoreError> {
    if crate::backend_of(conn) == crate::Backend::Postgres {
        db::query(concat!(
            "SELECT pg_advisory_xact_lock_shared(",
            lock_class!(),
            ", hashtext($1))"
        ))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    get(conn, connection_id, id).await
}

/// Moves a Group's version on by one after a change of its members alone, and its
/// `updated_at` to `now` (never back: a change that committed first may have read a
/// later clock). With `expected`, only while the Group is still at that version
/// (If-Match; [`StoreError::Stale`] otherwise, S9). Returns the new version and
/// `updated_at`.
///
/// The update locks the Group's row until the commit, against the next change of its
/// members: the write's audit events are inserted first, so that only the update and
/// the commit are made while others wait.
pub async fn bump_version(
    conn: &mut Conn,
    id: &str,
    now: i64,
    expected: Option<i64>,
) -> Result<(i64, i64), StoreError> {
    audit::flush(conn).await?;
    db::query_as(
        "UPDATE scim_groups SET version = version + 1, \
         updated_at = CASE WHEN updated_at > $2 THEN updated_at ELSE $2 END \
         WHERE id = $1 AND ($3 IS NULL OR version = $3) RETURNING version, updated_at",
    )
    .bind(id)
    .bind(now)
    .bind(expected)
    .fetch_optional(conn)
    .await?
    // Without If-Match, only a Group gone meanwhile (its connection deleted) is missed.
    .ok_or_else(|| match expected {
        Some(_) => StoreError::Stale,
        None => StoreError::not_found("scim_group", id),
    })
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
    let [sqlite, postgres] = &*SELECTS;
    match backend {
        crate::Backend::Sqlite => sqlite,
        crate::Backend::Postgres => postgres,
    }
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
    super::row(conn, select, connection_id, id, RowLock::None)
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

/// The team a Group maps to and its organization, in one query.
pub async fn team_by_id(conn: &mut Conn, team_id: &str) -> Result<Option<(Organization, Team)>, StoreError> {
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

/// What joining a team through a Group depends on for `user_id` (G4, S6): their
/// membership of `org_id`, and, when they have none, whether the connection's SCIM
/// User for them is active (`None` when none links them, or when it was not read).
pub async fn joiner(conn: &mut Conn, connection_id: &str, org_id: &str, user_id: &str) -> Result<Joiner, StoreError> {
    let member: Option<String> =
        db::query_scalar("SELECT state FROM memberships WHERE organization_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?;
    let membership = member
        .as_deref()
        .map(MemberState::parse)
        .transpose()
        .map_err(crate::error::corrupt)?;
    // Read only when it matters: for someone not yet in the organization.
    let scim_active = match membership {
        Some(_) => None,
        None => {
            db::query_scalar("SELECT active FROM scim_users WHERE connection_id = $1 AND user_id = $2")
                .bind(connection_id)
                .bind(user_id)
                .fetch_optional(&mut *conn)
                .await?
        }
    };
    Ok(Joiner {
        user_id: user_id.to_string(),
        membership,
        scim_active,
    })
}

/// Adds the Users `ids` to the Group's members; returns the accounts of those who were
/// not members yet. An id that is not a User of the connection fails the write.
///
/// Each id is one statement, which checks that the User is the connection's, inserts the
/// member and gives its account: on PostgreSQL, while the Group's row is locked, each
/// round trip saved is time no other change of the Group can use. Only an id that
/// inserts nothing (a member already, or no such User) costs a second.
pub async fn add_members(conn: &mut Conn, g: &ScimGroup, ids: &[String]) -> Result<Vec<String>, StoreError> {
    let mut unique: Vec<&String> = ids.iter().collect();
    unique.sort();
    unique.dedup();
    let mut joined = Vec::new();
    for id in unique {
        let inserted: Option<Option<String>> = db::query_scalar(
            "INSERT INTO scim_group_members (group_id, scim_user_id) \
             SELECT $1, id FROM scim_users WHERE connection_id = $2 AND id = $3 ON CONFLICT DO NOTHING \
             RETURNING (SELECT u.user_id FROM scim_users u WHERE u.id = scim_group_members.scim_user_id)",
        )
        .bind(&g.id)
        .bind(&g.connection_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        match inserted {
            Some(account) => joined.extend(account),
            None => {
                if users::existing(conn, &g.connection_id, std::slice::from_ref(id))
                    .await?
                    .is_empty()
                {
                    return Err(not_a_user(id));
                }
            }
        }
    }
    Ok(joined)
}

fn not_a_user(id: &str) -> StoreError {
    StoreError::refused(
        RefusalKind::InvalidValue,
        format!("member '{id}' is not a User of this connection"),
    )
}

/// Takes the Users `ids` out of the Group's members; returns the accounts of those who
/// were members. One statement each, which also gives the account.
pub async fn remove_members(conn: &mut Conn, g: &ScimGroup, ids: &[String]) -> Result<Vec<String>, StoreError> {
    let mut left = Vec::new();
    for id in ids {
        let account: Option<Option<String>> = db::query_scalar(
            "DELETE FROM scim_group_members WHERE group_id = $1 AND scim_user_id = $2 \
             RETURNING (SELECT u.user_id FROM scim_users u WHERE u.id = scim_group_members.scim_user_id)",
        )
        .bind(&g.id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        left.extend(account.flatten());
    }
    Ok(left)
}

/// Every member id of a Group (for a whole-list replace or removal, which is inherently
/// as large as the list).
pub async fn all_member_ids(conn: &mut Conn, group_id: &str) -> Result<Vec<String>, StoreError> {
    db::query_scalar("SELECT scim_user_id FROM scim_group_members WHERE group_id = $1")
        .bind(group_id)
        .fetch_all(conn)
        .await
}

/// The accounts of a Group's linked members.
pub async fn member_accounts(conn: &mut Conn, group_id: &str) -> Result<Vec<String>, StoreError> {
    db::query_scalar(
        "SELECT u.user_id FROM scim_group_members gm JOIN scim_users u ON u.id = gm.scim_user_id \
         WHERE gm.group_id = $1 AND u.user_id IS NOT NULL",
    )
    .bind(group_id)
    .fetch_all(conn)
    .await
}

/// Writes a Group's row: a new one (`insert`), or an update if it is still at
/// `expected_version` ([`StoreError::Stale`] otherwise; S9).
pub async fn write_row(conn: &mut Conn, g: &ScimGroup, insert: bool, expected_version: i64) -> Result<(), StoreError> {
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
        return Err(StoreError::Stale);
    }
    Ok(())
}

/// The audit event of a Group's create, update or delete.
pub async fn record(conn: &mut Conn, ctx: &Ctx, g: &ScimGroup, action: &str) -> Result<(), StoreError> {
    audit::record(
        conn,
        ctx,
        NewEvent {
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

/// Deletes a Group's row (its member rows go with it).
pub async fn delete_row(conn: &mut Conn, id: &str) -> Result<(), StoreError> {
    db::query("DELETE FROM scim_groups WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
