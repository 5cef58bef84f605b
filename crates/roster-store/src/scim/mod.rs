//! SCIM resources of each connection: Users linked to accounts, Groups with their
//! members, and the translation of SCIM filters to SQL.
//!
//! A resource is kept as the client sent it (normalised), with the attributes clients
//! filter on copied into indexed columns. Provisioning goes through the core planner:
//! a User that names an email in one of the connection's verified domains is linked
//! to, or creates, an account (S4, S5); `active` deactivates and reactivates (S6); a
//! Group named `organization:team` keeps that team's members equal to its own (G4).

pub mod filter_sql;
pub mod groups;
pub mod users;

use crate::backend_of;
use crate::db::{self, Conn, Param, Query};
use filter_sql::Bind;
use std::fmt::Write as _;

/// What a list request asks for.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: Option<roster_scim::filter::Filter>,
    /// A column name from [`sort_column`].
    pub sort: Option<&'static str>,
    pub descending: bool,
    /// 1-based.
    pub start_index: i64,
    pub count: i64,
}

impl ListQuery {
    /// Whether an index narrows the query to a few resources ([`filter_sql::narrows`]):
    /// if not, the read may take long ([`crate::Store::read_long`]).
    pub fn is_lookup(&self, resource: filter_sql::Resource) -> bool {
        self.filter.as_ref().is_some_and(|f| filter_sql::narrows(f, resource))
    }
}

pub(crate) fn bind_all<'q>(mut q: Query<'q>, binds: &[Bind]) -> Query<'q> {
    for b in binds {
        q = q.bind_param(match b {
            Bind::Text(s) => Param::Text(s.clone()),
            Bind::Int(i) => Param::Int(*i),
            Bind::Bool(v) => Param::Bool(*v),
        });
    }
    q
}

/// `sortBy` (RFC 7644 §3.4.2.3) → a column, for the attributes that have one.
pub fn sort_column(resource: filter_sql::Resource, attr: &str) -> Option<&'static str> {
    let a = attr.to_ascii_lowercase();
    let a = a.rsplit(':').next().unwrap_or(&a).to_string();
    match (resource, a.as_str()) {
        (_, "id") => Some("id"),
        (_, "externalid") => Some("external_id"),
        (_, "meta.created") => Some("created_at"),
        (_, "meta.lastmodified") => Some("updated_at"),
        (filter_sql::Resource::Users, "username") => Some("user_name_key"),
        (filter_sql::Resource::Users, "emails.value" | "emails") => Some("email_key"),
        (filter_sql::Resource::Groups, "displayname") => Some("display_name_key"),
        _ => None,
    }
}

/// One page of a connection's resources from `table` (aliased `r`, selected by
/// `select`) matching the query, and how many match in all.
pub(crate) async fn page(
    conn: &mut Conn,
    table: &str,
    resource: filter_sql::Resource,
    select: &str,
    connection_id: &str,
    q: &ListQuery,
) -> Result<(i64, Vec<db::Row>), crate::StoreError> {
    let backend = backend_of(conn);
    let (cond, binds) = match &q.filter {
        Some(f) => {
            let sql = filter_sql::translate(f, resource, backend, 2)?;
            (format!(" AND {}", sql.text), sql.filter_binds(2).to_vec())
        }
        None => (String::new(), Vec::new()),
    };
    if q.count == 0 {
        return Ok((
            count_matching(conn, table, connection_id, &cond, &binds).await?,
            Vec::new(),
        ));
    }
    // Pieces pushed onto one string, sized once: the select is long, and this runs for
    // every list request.
    let n = binds.len() + 2;
    let mut sql = String::with_capacity(select.len() + cond.len() + 128);
    sql.push_str(select);
    sql.push_str(" WHERE r.connection_id = $1");
    sql.push_str(&cond);
    // A lookup finds its few rows by index and sorts them; SQLite would otherwise walk
    // the order's index over the whole connection to save that sort, where the rows come
    // from a subquery (emails). Unary `+` keeps the order's index out of the choice.
    let sort_by_index = !(backend == crate::Backend::Sqlite && q.is_lookup(resource));
    sql.push_str(if sort_by_index { " ORDER BY r." } else { " ORDER BY +r." });
    sql.push_str(q.sort.unwrap_or("created_at"));
    sql.push_str(if q.descending { " DESC" } else { " ASC" });
    let _ = write!(sql, ", r.id LIMIT ${n} OFFSET ${}", n + 1);
    let rows = bind_all(db::query(&sql).bind(connection_id), &binds)
        .bind(q.count)
        .bind(q.start_index.max(1) - 1)
        .fetch_all(&mut *conn)
        .await?;
    // A first page that is not full holds every match: the count is known without
    // counting (the usual `userName eq "…"` lookup costs one query, not two).
    let total = if q.start_index <= 1 && (rows.len() as i64) < q.count {
        rows.len() as i64
    } else {
        count_matching(conn, table, connection_id, &cond, &binds).await?
    };
    Ok((total, rows))
}

async fn count_matching(
    conn: &mut Conn,
    table: &str,
    connection_id: &str,
    cond: &str,
    binds: &[Bind],
) -> Result<i64, crate::StoreError> {
    let sql = format!("SELECT COUNT(*) FROM {table} r WHERE r.connection_id = $1{cond}");
    bind_all(db::query(&sql).bind(connection_id), binds)
        .fetch_one(conn)
        .await?
        .try_get(0)
}

/// How [`row`] locks the row it reads, until the transaction ends (PostgreSQL; SQLite's
/// single writer needs no lock, and takes none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowLock {
    None,
    /// Against every other writer. Read under it, the row is the newest committed
    /// version (READ COMMITTED rereads a row changed while the statement waited, and
    /// skips one deleted).
    Update,
}

/// One resource of the connection by id (`select` aliases its table `r`), locked for
/// the transaction as `lock` says.
pub(crate) async fn row(
    conn: &mut Conn,
    select: &str,
    connection_id: &str,
    id: &str,
    lock: RowLock,
) -> Result<Option<db::Row>, crate::StoreError> {
    let lock = match (lock, backend_of(conn)) {
        (_, crate::Backend::Sqlite) | (RowLock::None, _) => "",
        (RowLock::Update, crate::Backend::Postgres) => " FOR UPDATE OF r",
    };
    db::query(&format!("{select} WHERE r.connection_id = $1 AND r.id = $2{lock}"))
        .bind(connection_id)
        .bind(id)
        .fetch_optional(conn)
        .await
}
