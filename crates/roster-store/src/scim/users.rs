//! SCIM Users of a connection: their rows and audit events. Provisioning their accounts
//! is the server's SCIM service (load → plan in roster-core → apply).

use super::filter_sql::Resource;
use super::{page, ListQuery};
use crate::audit::{self, NewEvent};
use crate::db::{self, Conn};
use crate::{backend_of, Backend, Ctx, StoreError};
use roster_core::plan::RefusalKind;
use serde_json::{json, Map, Value};
use std::sync::LazyLock;

#[derive(Debug, Clone)]
pub struct ScimUser {
    pub id: String,
    pub connection_id: String,
    /// The account this resource provisions, once linked (S4, S5).
    pub user_id: Option<String>,
    /// The account's generated username (the User's read-only `displayName`).
    pub username: Option<String>,
    /// The account's email, once linked.
    pub account_email: Option<String>,
    pub user_name: String,
    pub external_id: Option<String>,
    pub active: bool,
    /// The resource as the client sent it, normalised; no `id`, `meta` or `groups`.
    pub resource: Map<String, Value>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// The Groups (id, displayName) it is a member of, ordered by name, when they were
    /// read with it.
    pub groups: Option<Vec<(String, String)>>,
}

const COLUMNS: &str = "r.id, r.connection_id, r.user_id, u.username, u.email AS account_email, r.user_name, \
                       r.external_id, r.active, r.resource, r.version, r.created_at, r.updated_at";
const FROM: &str = "FROM scim_users r LEFT JOIN users u ON u.id = r.user_id";

/// The select for Users, with their Groups as one JSON column read in the same query (a
/// correlated subquery over the member index; no second round trip, no N+1). Built once
/// per engine and variant.
fn select(backend: Backend, with_groups: bool) -> &'static str {
    static SELECTS: LazyLock<[String; 4]> = LazyLock::new(|| {
        [
            build_select(Backend::Sqlite, false),
            build_select(Backend::Sqlite, true),
            build_select(Backend::Postgres, false),
            build_select(Backend::Postgres, true),
        ]
    });
    let [sqlite, sqlite_groups, postgres, postgres_groups] = &*SELECTS;
    match (backend, with_groups) {
        (Backend::Sqlite, false) => sqlite,
        (Backend::Sqlite, true) => sqlite_groups,
        (Backend::Postgres, false) => postgres,
        (Backend::Postgres, true) => postgres_groups,
    }
}

fn build_select(backend: Backend, with_groups: bool) -> String {
    let groups = if with_groups {
        crate::json_rows(
            backend,
            "g.id, g.display_name",
            "FROM scim_group_members gm JOIN scim_groups g ON g.id = gm.group_id WHERE gm.scim_user_id = r.id",
        )
    } else {
        "NULL".to_string()
    };
    format!("SELECT {COLUMNS}, {groups} AS groups {FROM}")
}

/// The `groups` column: `None` when not selected, else the pairs ordered by name.
fn groups_from(row: &db::Row) -> Result<Option<Vec<(String, String)>>, StoreError> {
    if row.try_get::<Option<String>, _>("groups")?.is_none() {
        return Ok(None);
    }
    let mut pairs: Vec<(String, String)> = crate::from_json_list(row, "groups")?;
    pairs.sort_by_cached_key(|(id, name)| (name.to_lowercase(), id.clone()));
    Ok(Some(pairs))
}

fn from_row(row: &db::Row) -> Result<ScimUser, StoreError> {
    let resource: String = row.try_get("resource")?;
    Ok(ScimUser {
        id: row.try_get("id")?,
        connection_id: row.try_get("connection_id")?,
        user_id: row.try_get("user_id")?,
        username: row.try_get("username")?,
        account_email: row.try_get("account_email")?,
        user_name: row.try_get("user_name")?,
        external_id: row.try_get("external_id")?,
        active: row.try_get::<bool, _>("active")?,
        resource: crate::from_json_text(&resource)?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        groups: groups_from(row)?,
    })
}

/// One User of the connection, with its Groups when `with_groups`.
pub async fn get(
    conn: &mut Conn,
    connection_id: &str,
    id: &str,
    with_groups: bool,
) -> Result<Option<ScimUser>, StoreError> {
    let select = select(backend_of(conn), with_groups);
    super::row(conn, select, connection_id, id, super::RowLock::None)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// The same with its Groups, locked until the transaction ends (PostgreSQL runs writes
/// in parallel: two changes of one resource must not both build on the same version;
/// S9).
pub async fn get_for_update(conn: &mut Conn, connection_id: &str, id: &str) -> Result<Option<ScimUser>, StoreError> {
    let select = select(backend_of(conn), true);
    super::row(conn, select, connection_id, id, super::RowLock::Update)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// A page of the connection's Users matching the query (with their Groups when
/// `with_groups`), and how many match in all.
pub async fn list(
    conn: &mut Conn,
    connection_id: &str,
    q: &ListQuery,
    with_groups: bool,
) -> Result<(i64, Vec<ScimUser>), StoreError> {
    let select = select(backend_of(conn), with_groups);
    let (total, rows) = page(conn, "scim_users", Resource::Users, select, connection_id, q).await?;
    Ok((total, rows.iter().map(from_row).collect::<Result<_, _>>()?))
}

/// Whether another User of the connection has the userName whose key is `key`.
pub async fn user_name_taken(
    conn: &mut Conn,
    connection_id: &str,
    key: &str,
    except: Option<&str>,
) -> Result<bool, StoreError> {
    let other: Option<String> =
        db::query_scalar("SELECT id FROM scim_users WHERE connection_id = $1 AND user_name_key = $2")
            .bind(connection_id)
            .bind(key)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(other.is_some_and(|o| Some(o.as_str()) != except))
}

fn taken(user_name: &str) -> StoreError {
    StoreError::refused(
        RefusalKind::Exists,
        format!("userName '{user_name}' is already provisioned"),
    )
}

/// `sql` with the row's columns bound as `$1` (id) to `$11` (updated_at), as the insert
/// and the update both name them.
fn with_row<'q>(sql: &'q str, u: &ScimUser, email_key: Option<&str>) -> Result<db::Query<'q>, StoreError> {
    Ok(db::query(sql)
        .bind(&u.id)
        .bind(&u.connection_id)
        .bind(&u.user_name)
        .bind(u.user_name.to_lowercase())
        .bind(u.external_id.as_deref())
        .bind(email_key)
        .bind(u.active)
        .bind(crate::json_text(&u.resource)?)
        .bind(u.version)
        .bind(u.created_at)
        .bind(u.updated_at))
}

/// Writes a new User's row, with the account it links. `email_key`: the key of the
/// email it provisions, for lookups by email. The unique (connection, userName) decides
/// a race of two creates: the loser is refused as `Exists`.
pub async fn insert(conn: &mut Conn, u: &ScimUser, email_key: Option<&str>) -> Result<(), StoreError> {
    let n = with_row(
        "INSERT INTO scim_users (id, connection_id, user_name, user_name_key, external_id, email_key, active, resource, version, created_at, updated_at, user_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (connection_id, user_name_key) DO NOTHING",
        u,
        email_key,
    )?
    .bind(u.user_id.as_deref())
    .execute(conn)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(taken(&u.user_name));
    }
    Ok(())
}

/// Rewrites a User's row if it is still at `expected_version`; the account link is
/// left to provisioning. A concurrent change that got there first (PostgreSQL runs
/// writes in parallel) makes it [`StoreError::Stale`] (S9).
pub async fn update(
    conn: &mut Conn,
    u: &ScimUser,
    email_key: Option<&str>,
    expected_version: i64,
) -> Result<(), StoreError> {
    let n = with_row(
        "UPDATE scim_users SET connection_id = $2, user_name = $3, user_name_key = $4, external_id = $5, email_key = $6, active = $7, \
         resource = $8, version = $9, created_at = $10, updated_at = $11 WHERE id = $1 AND version = $12",
        u,
        email_key,
    )?
    .bind(expected_version)
    .execute(conn)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(StoreError::Stale);
    }
    Ok(())
}

/// One email address of a User, as filters on emails read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailRow {
    /// The address, lower-cased.
    pub key: String,
    /// Its `type`, lower-cased.
    pub type_key: Option<String>,
    pub primary: bool,
}

/// Writes the User's email addresses for filters (with its userName's key), replacing
/// those it had (`replace`: the User's row was written before).
pub async fn write_emails(conn: &mut Conn, u: &ScimUser, emails: &[EmailRow], replace: bool) -> Result<(), StoreError> {
    if replace {
        db::query("DELETE FROM scim_user_emails WHERE scim_user_id = $1")
            .bind(&u.id)
            .execute(&mut *conn)
            .await?;
    }
    for e in emails {
        db::query(
            "INSERT INTO scim_user_emails (scim_user_id, connection_id, user_name_key, email_key, type_key, is_primary) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&u.id)
        .bind(&u.connection_id)
        .bind(u.user_name.to_lowercase())
        .bind(&e.key)
        .bind(e.type_key.as_deref())
        .bind(e.primary)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Deletes a User's row (its Group memberships go with it).
pub async fn delete_row(conn: &mut Conn, id: &str) -> Result<(), StoreError> {
    db::query("DELETE FROM scim_users WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The audit event of a User's create, update or delete.
pub async fn record(conn: &mut Conn, ctx: &Ctx, u: &ScimUser, action: &str) -> Result<(), StoreError> {
    audit::record(
        conn,
        ctx,
        NewEvent {
            action,
            object_kind: "scim_user",
            object_id: &u.id,
            connection_id: Some(&u.connection_id),
            user_id: u.user_id.as_deref(),
            after: (action != "scim_user.delete")
                .then(|| json!({ "userName": u.user_name, "externalId": u.external_id, "active": u.active })),
            before: (action == "scim_user.delete").then(|| json!({ "userName": u.user_name })),
            ..Default::default()
        },
    )
    .await
}

/// S1: records that a User is kept without an account, and why.
pub async fn hold(conn: &mut Conn, ctx: &Ctx, u: &ScimUser, why: &str) -> Result<(), StoreError> {
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "scim_user.held",
            object_kind: "scim_user",
            object_id: &u.id,
            connection_id: Some(&u.connection_id),
            rule: Some("S1"),
            reason: Some(format!("no account is provisioned: {why}")),
            ..Default::default()
        },
    )
    .await
}

/// Which of `ids` are Users of the connection (for Group members).
pub async fn existing(
    conn: &mut Conn,
    connection_id: &str,
    ids: &[String],
) -> Result<Vec<(String, Option<String>)>, StoreError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let placeholders: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id, user_id FROM scim_users WHERE connection_id = $1 AND id IN ({})",
            placeholders.join(", ")
        );
        let mut q = db::query(&sql).bind(connection_id);
        for id in chunk {
            q = q.bind(id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            out.push((r.try_get("id")?, r.try_get("user_id")?));
        }
    }
    Ok(out)
}
