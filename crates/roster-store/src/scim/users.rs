//! SCIM Users of a connection, and their provisioning through the core planner.

use super::filter_sql::Resource;
use super::{page, ListQuery};
use crate::audit::{self, Change};
use crate::connections::Connection;
use crate::db::{self, Conn};
use crate::directory::users;
use crate::{backend_of, new_id, provisioning, Backend, Ctx, StoreError};
use roster_core::plan::ChangeKind;
use roster_core::scim_plan::{self, ScimRefusal, ScimUserFacts};
use roster_core::Email;
use roster_scim::urn;
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
    let i = match backend {
        Backend::Sqlite => 0,
        Backend::Postgres => 2,
    };
    &SELECTS[i + usize::from(with_groups)]
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
        resource: serde_json::from_str(&resource).unwrap_or_default(),
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
    super::row(conn, select, connection_id, id, false)
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
    super::row(conn, select, connection_id, id, true)
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

/// The email a resource provisions: `userName` when it is one (S3), else its primary (or
/// first) email address.
pub fn provisioning_email(doc: &Map<String, Value>) -> Option<Email> {
    if let Some(e) = doc
        .get("userName")
        .and_then(Value::as_str)
        .and_then(|u| Email::parse(u).ok())
    {
        return Some(e);
    }
    let emails = doc.get("emails")?.as_array()?;
    let primary = emails
        .iter()
        .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true));
    primary
        .into_iter()
        .chain(emails.iter())
        .filter_map(|e| e.get("value").and_then(Value::as_str))
        .find_map(|v| Email::parse(v).ok())
}

fn text(doc: &Map<String, Value>, path: &[&str]) -> Option<String> {
    let mut cur = doc.get(*path.first()?)?;
    for p in path.iter().skip(1) {
        cur = cur.get(*p)?;
    }
    cur.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn facts(doc: &Map<String, Value>, email: Email, active: bool) -> ScimUserFacts {
    ScimUserFacts {
        email,
        external_id: text(doc, &["externalId"]),
        full_name: text(doc, &["name", "formatted"]),
        given_name: text(doc, &["name", "givenName"]),
        family_name: text(doc, &["name", "familyName"]),
        active: Some(active),
        organization: text(doc, &[urn::DOCKER_USER, "dockerOrg"]),
        team: text(doc, &[urn::DOCKER_USER, "dockerTeam"]),
        role: text(doc, &[urn::DOCKER_USER, "dockerRole"]),
    }
}

fn refused(r: ScimRefusal) -> StoreError {
    StoreError::Scim {
        status: r.status,
        scim_type: r.scim_type,
        detail: r.detail,
    }
}

fn user_name_of(doc: &Map<String, Value>) -> Result<String, StoreError> {
    match doc.get("userName").and_then(Value::as_str).map(str::trim) {
        Some(u) if !u.is_empty() && u.chars().count() <= 256 => Ok(u.to_string()),
        _ => Err(StoreError::scim(roster_scim::ScimError::invalid_value(
            "userName is required: 1 to 256 characters",
        ))),
    }
}

fn taken(user_name: &str) -> StoreError {
    StoreError::scim(roster_scim::ScimError::uniqueness(format!(
        "userName '{user_name}' is already provisioned"
    )))
}

async fn user_name_taken(
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

async fn write_row(conn: &mut Conn, u: &ScimUser, insert: bool, expected_version: i64) -> Result<(), StoreError> {
    let email_key = provisioning_email(&u.resource).map(|e| e.key().to_string());
    let resource = crate::json_text(&u.resource)?;
    let sql = if insert {
        // The unique (connection_id, user_name_key) decides a race of two creates. The
        // account link goes in with the row; an update leaves it to provisioning.
        "INSERT INTO scim_users (id, connection_id, user_name, user_name_key, external_id, email_key, active, resource, version, created_at, updated_at, user_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (connection_id, user_name_key) DO NOTHING"
    } else {
        "UPDATE scim_users SET connection_id = $2, user_name = $3, user_name_key = $4, external_id = $5, email_key = $6, active = $7, \
         resource = $8, version = $9, created_at = $10, updated_at = $11 WHERE id = $1 AND version = $12"
    };
    let q = db::query(sql)
        .bind(&u.id)
        .bind(&u.connection_id)
        .bind(&u.user_name)
        .bind(u.user_name.to_lowercase())
        .bind(u.external_id.as_deref())
        .bind(email_key)
        .bind(u.active)
        .bind(resource)
        .bind(u.version)
        .bind(u.created_at)
        .bind(u.updated_at);
    // The link is in the INSERT only, the version condition in the UPDATE only.
    let q = if insert {
        q.bind(u.user_id.as_deref())
    } else {
        q.bind(expected_version)
    };
    let n = q.execute(conn).await?.rows_affected();
    if insert && n == 0 {
        return Err(taken(&u.user_name));
    }
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

async fn record(conn: &mut Conn, ctx: &Ctx, u: &ScimUser, action: &str) -> Result<(), StoreError> {
    audit::record(
        conn,
        ctx,
        Change {
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

/// Whether the resource's row is already in the table when it is provisioned.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Row {
    Written,
    /// A create: the row is inserted after provisioning, with the account it links.
    Unwritten,
}

/// Runs the planner for this resource's current state and applies its plan.
async fn provision(
    conn: &mut Conn,
    ctx: &Ctx,
    connection: &Connection,
    u: &mut ScimUser,
    row: Row,
) -> Result<(), StoreError> {
    let account_email = match (&u.user_id, &u.account_email) {
        (Some(_), Some(email)) => Some(Email::parse(email)?),
        (Some(uid), None) => Some(Email::parse(&users::find(conn, uid).await?.email)?),
        (None, _) => provisioning_email(&u.resource),
    };
    let Some(email) = account_email else {
        return hold(conn, ctx, u, "neither userName nor emails holds an email address").await;
    };
    let (state, mut known) = provisioning::load(conn, connection, &email, &[], ctx.now).await?;
    known.scim_row_unwritten = row == Row::Unwritten;
    let facts = facts(&u.resource, email.clone(), u.active);
    let mut plan = if u.user_id.is_some() {
        scim_plan::plan_update(&state, &facts).map_err(refused)?
    } else {
        if state.user.is_none() && !scim_plan::domain_verified(&state, &email) {
            // S1: accounts are made only in the connection's verified domains. The
            // resource is kept and provisioned once its email is in one.
            return hold(
                conn,
                ctx,
                u,
                &format!("'{}' is not in a verified domain of this connection", email.domain()),
            )
            .await;
        }
        scim_plan::plan_create(&state, &facts).map_err(refused)?
    };
    plan.scim_user_id = Some(u.id.clone());
    let ctx = ctx.via_connection(&connection.id);
    let applied = provisioning::apply_with(conn, &ctx, &plan, connection, known).await?;
    // An unwritten row takes an account only through a link of this plan.
    let links = plan.changes.iter().any(|c| c.kind == ChangeKind::LinkAccount);
    if let Some(uid) = applied.user_id.filter(|_| row == Row::Written || links) {
        // The account's username and email change only when it is (re)linked; the
        // row applying made or read serves when it has one.
        if u.user_id.as_deref() != Some(uid.as_str()) || u.username.is_none() {
            let account = match applied.user {
                Some(a) if a.id == uid => a,
                _ => users::find(conn, &uid).await?,
            };
            u.username = Some(account.username);
            u.account_email = Some(account.email);
        }
        u.user_id = Some(uid);
    }
    Ok(())
}

async fn hold(conn: &mut Conn, ctx: &Ctx, u: &ScimUser, why: &str) -> Result<(), StoreError> {
    audit::record(
        conn,
        ctx,
        Change {
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

/// SCIM POST /Users.
pub async fn create(
    conn: &mut Conn,
    ctx: &Ctx,
    connection: &Connection,
    doc: Map<String, Value>,
) -> Result<ScimUser, StoreError> {
    let user_name = user_name_of(&doc)?;
    let mut u = ScimUser {
        id: new_id(),
        connection_id: connection.id.clone(),
        user_id: None,
        username: None,
        account_email: None,
        user_name,
        external_id: text(&doc, &["externalId"]),
        active: doc.get("active").and_then(Value::as_bool).unwrap_or(true),
        resource: doc,
        version: 1,
        created_at: ctx.now,
        updated_at: ctx.now,
        groups: Some(Vec::new()),
    };
    record(conn, ctx, &u, "scim_user.create").await?;
    // The row goes in once provisioning has found or made the account it links, so a
    // create writes it once. A userName already provisioned fails the insert, and with
    // it the whole write; when provisioning fails first, that userName is still the
    // answer (409 uniqueness), whatever provisioning said.
    if let Err(e) = provision(conn, ctx, connection, &mut u, Row::Unwritten).await {
        let key = u.user_name.to_lowercase();
        return Err(match user_name_taken(conn, &connection.id, &key, None).await {
            Ok(true) => taken(&u.user_name),
            // On PostgreSQL a failed statement ends the transaction's reads too.
            _ => e,
        });
    }
    write_row(conn, &u, true, 0).await?;
    Ok(u)
}

/// SCIM PUT or PATCH /Users/{id}: `doc` is the whole resource after the request.
pub async fn replace(
    conn: &mut Conn,
    ctx: &Ctx,
    connection: &Connection,
    current: &ScimUser,
    doc: Map<String, Value>,
) -> Result<ScimUser, StoreError> {
    let user_name = user_name_of(&doc)?;
    // Only a changed userName can collide with another User's.
    if user_name.to_lowercase() != current.user_name.to_lowercase()
        && user_name_taken(conn, &connection.id, &user_name.to_lowercase(), Some(&current.id)).await?
    {
        return Err(taken(&user_name));
    }
    // S6 (deviation): a replacement without `active` (a PUT that leaves it out, a PATCH
    // that removes it) leaves the state as it was.
    let active = doc.get("active").and_then(Value::as_bool).unwrap_or(current.active);
    let mut u = ScimUser {
        user_name,
        external_id: text(&doc, &["externalId"]),
        active,
        resource: doc,
        version: current.version + 1,
        updated_at: ctx.now,
        ..current.clone()
    };
    write_row(conn, &u, false, current.version).await?;
    record(conn, ctx, &u, "scim_user.update").await?;
    provision(conn, ctx, connection, &mut u, Row::Written).await?;
    Ok(u)
}

/// SCIM DELETE /Users/{id}: the account is deactivated here and unlinked, and stays (S6).
pub async fn delete(conn: &mut Conn, ctx: &Ctx, connection: &Connection, current: &ScimUser) -> Result<(), StoreError> {
    if let Some(uid) = &current.user_id {
        let email = match &current.account_email {
            Some(e) => Email::parse(e)?,
            None => Email::parse(&users::find(conn, uid).await?.email)?,
        };
        let (state, known) = provisioning::load(conn, connection, &email, &[], ctx.now).await?;
        let mut plan = scim_plan::plan_delete(&state, &email).map_err(refused)?;
        plan.scim_user_id = Some(current.id.clone());
        provisioning::apply_with(conn, &ctx.via_connection(&connection.id), &plan, connection, known).await?;
    }
    db::query("DELETE FROM scim_users WHERE id = $1")
        .bind(&current.id)
        .execute(&mut *conn)
        .await?;
    record(conn, ctx, current, "scim_user.delete").await
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
