//! The audit log: one row per change, written by the same transaction as the change.

use crate::{new_id, Ctx, StoreError};
use serde::Serialize;
use serde_json::Value;
use sqlx::{AnyConnection, Row};

/// One change to record. `before`/`after` are the object's relevant fields.
#[derive(Debug, Default, Clone)]
pub struct Change<'a> {
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

pub async fn record(
    conn: &mut AnyConnection,
    ctx: &Ctx,
    change: Change<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_events (id, at, actor_kind, actor_id, action, object_kind, object_id, company_id, \
         organization_id, connection_id, user_id, before, after, rule, reason, trace_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(new_id())
    .bind(ctx.now)
    .bind(ctx.actor_kind)
    .bind(ctx.actor_id.as_deref())
    .bind(change.action)
    .bind(change.object_kind)
    .bind(change.object_id)
    .bind(change.company_id)
    .bind(change.organization_id)
    .bind(change.connection_id)
    .bind(change.user_id)
    .bind(change.before.map(|v| v.to_string()))
    .bind(change.after.map(|v| v.to_string()))
    .bind(change.rule)
    .bind(change.reason)
    .bind(&ctx.trace_id)
    .execute(conn)
    .await?;
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
    pub organization_id: Option<String>,
    pub connection_id: Option<String>,
    pub user_id: Option<String>,
    /// Only events older than this sequence number (the cursor).
    pub before_seq: Option<i64>,
    pub limit: i64,
}

/// Events matching every given filter, newest first.
pub async fn list(conn: &mut AnyConnection, q: &Query) -> Result<Vec<Event>, StoreError> {
    let rows = sqlx::query(
        "SELECT seq, id, at, actor_kind, actor_id, action, object_kind, object_id, company_id, organization_id, \
         connection_id, user_id, before, after, rule, reason, trace_id FROM audit_events \
         WHERE ($1 IS NULL OR organization_id = $1) AND ($2 IS NULL OR connection_id = $2) \
         AND ($3 IS NULL OR user_id = $3) AND ($4 IS NULL OR seq < $4) ORDER BY seq DESC LIMIT $5",
    )
    .bind(q.organization_id.as_deref())
    .bind(q.connection_id.as_deref())
    .bind(q.user_id.as_deref())
    .bind(q.before_seq)
    .bind(q.limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(event_from_row).collect()
}

fn event_from_row(r: &sqlx::any::AnyRow) -> Result<Event, StoreError> {
    let json = |col: &str| -> Result<Option<Value>, StoreError> {
        let text: Option<String> = r.try_get(col)?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
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
