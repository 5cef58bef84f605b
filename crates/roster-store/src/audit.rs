//! The audit log: one row per change, written by the same transaction as the change.
//!
//! Inside [`crate::Store::write`] the events a write records are kept in a journal and
//! inserted together when the write's work has succeeded, still inside its transaction:
//! a SCIM create that records five events inserts them with one statement (on
//! PostgreSQL, one round trip), not five; a write may insert them earlier ([`flush`]).
//! A write that fails leaves no events, as its changes are rolled back.
//! Outside a write (a test on a bare connection), an event is inserted at once.

use crate::db::{self, Conn, Kind, Param};
use crate::{new_id, Backend, Ctx, StoreError};
use serde::Serialize;
use serde_json::Value;
use std::cell::RefCell;
use std::sync::LazyLock;

/// An audit event to record for one change. `before`/`after` are the object's relevant
/// fields.
#[derive(Debug, Default, Clone)]
pub struct NewEvent<'a> {
    pub action: &'a str,
    pub object_kind: &'a str,
    pub object_id: &'a str,
    pub company_id: Option<&'a str>,
    pub organization_id: Option<&'a str>,
    pub connection_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// The spec rule that caused the change (`J4`, `S6`, …), if a rule did.
    pub rule: Option<&'a str>,
    pub reason: Option<String>,
}

/// An event waiting in the journal: the row's columns in table order, from `id` to
/// `trace_id`.
/// An event's 16 column values, as bound to the insert.
type Pending = [Param; 16];

tokio::task_local! {
    static JOURNAL: RefCell<Vec<Pending>>;
}

pub async fn record(conn: &mut Conn, ctx: &Ctx, event: NewEvent<'_>) -> Result<(), StoreError> {
    let text = |s: Option<&str>| s.map_or(Param::Null(Kind::Text), |s| Param::Text(s.to_string()));
    let json_text = |v: Option<Value>| -> Result<Param, StoreError> {
        Ok(match v {
            Some(v) => Param::Text(crate::json_text(&v)?),
            None => Param::Null(Kind::Text),
        })
    };
    let event: Pending = [
        Param::Text(new_id()),
        Param::Int(ctx.now),
        Param::Text(ctx.actor_kind.to_string()),
        text(ctx.actor_id.as_deref()),
        Param::Text(event.action.to_string()),
        Param::Text(event.object_kind.to_string()),
        Param::Text(event.object_id.to_string()),
        text(event.company_id),
        text(event.organization_id),
        text(event.connection_id.or(ctx.connection_id.as_deref())),
        text(event.user_id),
        json_text(event.before)?,
        json_text(event.after)?,
        text(event.rule.or(ctx.cause.as_ref().map(|c| c.rule))),
        event
            .reason
            .or_else(|| ctx.cause.as_ref().map(|c| c.reason.clone()))
            .map_or(Param::Null(Kind::Text), Param::Text),
        Param::Text(ctx.trace_id.clone()),
    ];
    let mut event = Some(event);
    // In a write: into its journal. Elsewhere: inserted now.
    let _ = JOURNAL.try_with(|j| j.borrow_mut().extend(event.take()));
    match event {
        Some(e) => insert(conn, vec![e]).await,
        None => Ok(()),
    }
}

/// Runs `work` with a journal, then inserts the events it recorded, on the same
/// connection and transaction, if it succeeded.
pub(crate) async fn journaled<'c, T, F>(conn: &'c mut Conn, work: F) -> Result<T, StoreError>
where
    F: for<'a> FnOnce(&'a mut Conn) -> futures::future::BoxFuture<'a, Result<T, StoreError>>,
{
    let (result, events) = JOURNAL
        .scope(RefCell::new(Vec::new()), async {
            let result = work(&mut *conn).await;
            (result, JOURNAL.with(RefCell::take))
        })
        .await;
    let value = result?;
    insert(conn, events).await?;
    Ok(value)
}

/// Inserts the events the write has recorded so far, now rather than after its work:
/// for a write about to lock a row that it then holds to its commit, so that the insert
/// is not made while others wait for that row. Outside a write, events are inserted as
/// they are recorded, and none wait.
pub(crate) async fn flush(conn: &mut Conn) -> Result<(), StoreError> {
    let events = JOURNAL.try_with(RefCell::take).unwrap_or_default();
    if events.is_empty() {
        return Ok(());
    }
    insert(conn, events).await
}

const COLUMNS: &str = "id, at, actor_kind, actor_id, action, object_kind, object_id, company_id, organization_id, \
                       connection_id, user_id, before, after, rule, reason, trace_id";

/// The most rows one insert carries (16 parameters each). Longer journals take several
/// statements; per engine at most this many statement texts exist, each prepared once.
const MAX_ROWS: usize = 8;

/// `INSERTS[engine][k - 1]` inserts `k` rows, in the order given, with plain parameters:
/// cheaper than any one-parameter form. On PostgreSQL, rows sent as one JSON array and
/// taken apart with `->>` cost the database 290–340 µs for a SCIM create's five events
/// (`json` parses the text again at each `->>`), as `jsonb` 115–120 µs, as parameters
/// about 75 µs.
static INSERTS: LazyLock<[Vec<String>; 2]> = LazyLock::new(|| [inserts(Backend::Sqlite), inserts(Backend::Postgres)]);

fn inserts(backend: Backend) -> Vec<String> {
    (1..=MAX_ROWS)
        .map(|k| {
            let rows: Vec<String> = (0..k)
                .map(|row| {
                    let params: Vec<String> = (1..=16)
                        .map(|col| match backend {
                            // Bare `?` parameters, bound in order: SQLite finds each `$n`
                            // by a linear search, so naming 128 of them costs time
                            // quadratic in 128.
                            Backend::Sqlite => "?".to_string(),
                            Backend::Postgres => format!("${}", row * 16 + col),
                        })
                        .collect();
                    format!("({})", params.join(", "))
                })
                .collect();
            // SQLite: OR FAIL, since a failing insert fails its whole write, which is
            // rolled back (its savepoint or its batch), so the statement needs no
            // statement journal of its own; with the default ABORT, SQLite copies every
            // page the insert touches first.
            let verb = match backend {
                Backend::Sqlite => "INSERT OR FAIL",
                Backend::Postgres => "INSERT",
            };
            format!("{verb} INTO audit_events ({COLUMNS}) VALUES {}", rows.join(", "))
        })
        .collect()
}

/// Inserts events in order, so `seq` follows the order they were recorded: multi-row
/// inserts of cached text, up to [`MAX_ROWS`] rows (one round trip) each.
async fn insert(conn: &mut Conn, events: Vec<Pending>) -> Result<(), StoreError> {
    let [sqlite, postgres] = &*INSERTS;
    let texts = match crate::backend_of(conn) {
        Backend::Sqlite => sqlite,
        Backend::Postgres => postgres,
    };
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        let chunk: Vec<Pending> = events.by_ref().take(MAX_ROWS).collect();
        // 1..=MAX_ROWS rows: one of the prepared texts.
        let sql = texts
            .get(chunk.len().wrapping_sub(1))
            .ok_or(StoreError::Misuse("an audit insert of no rows"))?;
        let mut q = db::query(sql);
        for v in chunk.into_iter().flatten() {
            q = q.bind_param(v);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub id: String,
    #[serde(skip)]
    pub seq: i64,
    pub at: i64,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub object_kind: String,
    pub object_id: String,
    pub company_id: Option<String>,
    pub organization_id: Option<String>,
    pub connection_id: Option<String>,
    pub user_id: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub rule: Option<String>,
    pub reason: Option<String>,
    pub trace_id: String,
}

#[derive(Debug, Default, Clone)]
pub struct Query {
    pub company_id: Option<String>,
    pub organization_id: Option<String>,
    pub connection_id: Option<String>,
    pub user_id: Option<String>,
    /// Only events whose action starts with this (`membership.`).
    pub action_prefix: Option<String>,
    /// Only events older than this sequence number (the cursor).
    pub before_seq: Option<i64>,
    /// Only events from this sequence number on (see [`first_seq_at`]).
    pub from_seq: Option<i64>,
    pub limit: i64,
}

/// Events matching every given filter, newest first. Only the filters given become SQL
/// conditions, so each query can use its `(column, seq)` index.
pub async fn list(conn: &mut Conn, q: &Query) -> Result<Vec<Event>, StoreError> {
    let filters = [
        ("company_id", q.company_id.as_deref()),
        ("organization_id", q.organization_id.as_deref()),
        ("connection_id", q.connection_id.as_deref()),
        ("user_id", q.user_id.as_deref()),
    ];
    let mut conditions = Vec::new();
    let mut values = Vec::new();
    for (column, value) in filters {
        if let Some(v) = value {
            values.push(v.to_string());
            conditions.push(format!("{column} = ${}", values.len()));
        }
    }
    if let Some(prefix) = q.action_prefix.as_deref().filter(|p| !p.is_empty()) {
        values.push(format!("{}%", crate::directory::users::escape_like(prefix)));
        conditions.push(format!("action LIKE ${} ESCAPE '\\'", values.len()));
    }
    let mut seqs = Vec::new();
    if let Some(seq) = q.before_seq {
        seqs.push(seq);
        conditions.push(format!("seq < ${}", values.len() + seqs.len()));
    }
    if let Some(seq) = q.from_seq {
        seqs.push(seq);
        conditions.push(format!("seq >= ${}", values.len() + seqs.len()));
    }
    let limit_param = values.len() + seqs.len() + 1;
    let where_clause = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT seq, id, at, actor_kind, actor_id, action, object_kind, object_id, company_id, organization_id, \
         connection_id, user_id, before, after, rule, reason, trace_id FROM audit_events {where_clause} \
         ORDER BY seq DESC LIMIT ${limit_param}"
    );
    let mut query = db::query(&sql);
    for v in values {
        query = query.bind(v);
    }
    for seq in seqs {
        query = query.bind(seq);
    }
    let rows = query.bind(q.limit).fetch_all(conn).await?;
    rows.iter().map(event_from_row).collect()
}

/// The sequence number of the first event recorded at or after `at_ms` (one past the
/// last event when there is none), for listing by time without an index on time: the
/// log is written in time order, so a binary search over `seq` (its key) finds it in
/// a few dozen lookups.
pub async fn first_seq_at(conn: &mut Conn, at_ms: i64) -> Result<i64, StoreError> {
    // Two subqueries: each is one step down the key (one query with both scans the table
    // on SQLite).
    let bounds: (Option<i64>, Option<i64>) =
        db::query_as("SELECT (SELECT MIN(seq) FROM audit_events), (SELECT MAX(seq) FROM audit_events)")
            .fetch_one(&mut *conn)
            .await?;
    let (Some(mut lo), Some(max)) = bounds else {
        return Ok(1);
    };
    // The answer is in lo..=hi; hi = max + 1 stands for "after every event".
    let mut hi = max + 1;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        // The event at `mid`, or the next one (sequence numbers may have gaps).
        let found: Option<(i64, i64)> =
            db::query_as("SELECT seq, at FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT 1")
                .bind(mid)
                .fetch_optional(&mut *conn)
                .await?;
        match found {
            Some((seq, at)) if at < at_ms => lo = seq + 1,
            _ => hi = mid,
        }
    }
    Ok(lo)
}

fn event_from_row(r: &db::Row) -> Result<Event, StoreError> {
    let json = |col: &str| -> Result<Option<Value>, StoreError> {
        let text: Option<String> = r.try_get(col)?;
        text.map(|t| crate::from_json_text(&t)).transpose()
    };
    Ok(Event {
        seq: r.try_get("seq")?,
        id: r.try_get("id")?,
        at: r.try_get("at")?,
        actor_kind: r.try_get("actor_kind")?,
        actor_id: r.try_get("actor_id")?,
        action: r.try_get("action")?,
        object_kind: r.try_get("object_kind")?,
        object_id: r.try_get("object_id")?,
        company_id: r.try_get("company_id")?,
        organization_id: r.try_get("organization_id")?,
        connection_id: r.try_get("connection_id")?,
        user_id: r.try_get("user_id")?,
        before: json("before")?,
        after: json("after")?,
        rule: r.try_get("rule")?,
        reason: r.try_get("reason")?,
        trace_id: r.try_get("trace_id")?,
    })
}

/// A position in the audit log's commit order: the writing transaction (PostgreSQL's
/// transaction id; 0 on SQLite, whose single writer commits in `seq` order) and `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub tx: i64,
    pub seq: i64,
}

/// What the events feed asks of the audit log.
#[derive(Debug, Clone, Default)]
pub struct FeedQuery {
    /// Only events after this position.
    pub after: Option<Position>,
    /// Only events at or after this time (ms): the feed's retention.
    pub since: i64,
    pub limit: i64,
}

/// Audit events in commit order, each with its position. A reader that passes the last
/// position it got as `after` sees every event once, none skipped: on PostgreSQL only
/// events of transactions older than the oldest one still running are returned (the
/// snapshot's xmin), so a transaction that commits late cannot add an event behind a
/// position already handed out.
pub async fn feed(conn: &mut Conn, q: &FeedQuery) -> Result<Vec<(Position, Event)>, StoreError> {
    let after = q.after.unwrap_or_default();
    let (order, horizon, order_by) = match crate::backend_of(conn) {
        Backend::Postgres => (
            "(tx, seq) > ($1, $2)",
            " AND tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
            "tx, seq",
        ),
        // `tx` is always 0 here; `seq` is the rowid, read as a range.
        Backend::Sqlite => ("tx = $1 AND seq > $2", "", "seq"),
    };
    let mut sql = format!(
        "SELECT tx, seq, id, at, actor_kind, actor_id, action, object_kind, object_id, company_id, organization_id, \
         connection_id, user_id, before, after, rule, reason, trace_id FROM audit_events \
         WHERE {order}{horizon} AND at >= $3"
    );
    sql.push_str(&format!(" ORDER BY {order_by} LIMIT $4"));
    let rows = db::query(&sql)
        .bind(after.tx)
        .bind(after.seq)
        .bind(q.since)
        .bind(q.limit)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                Position {
                    tx: r.try_get("tx")?,
                    seq: r.try_get("seq")?,
                },
                event_from_row(r)?,
            ))
        })
        .collect()
}

/// The event at position `p` of the log, if it is still there.
pub async fn at(conn: &mut Conn, p: Position) -> Result<Option<Event>, StoreError> {
    let row = db::query(
        "SELECT seq, id, at, actor_kind, actor_id, action, object_kind, object_id, company_id, organization_id, \
         connection_id, user_id, before, after, rule, reason, trace_id FROM audit_events WHERE seq = $1 AND tx = $2",
    )
    .bind(p.seq)
    .bind(p.tx)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(event_from_row).transpose()
}
