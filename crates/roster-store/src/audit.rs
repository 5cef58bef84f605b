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

pub async fn record(conn: &mut AnyConnection, ctx: &Ctx, change: Change<'_>) -> Result<(), StoreError> {
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
    .bind(change.connection_id.or(ctx.connection_id.as_deref()))
    .bind(change.user_id)
    .bind(change.before.map(|v| v.to_string()))
    .bind(change.after.map(|v| v.to_string()))
    .bind(change.rule.or(ctx.cause.as_ref().map(|c| c.rule)))
    .bind(change.reason.or_else(|| ctx.cause.as_ref().map(|c| c.reason.clone())))
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
    pub company_id: Option<String>,
    pub organization_id: Option<String>,
    pub connection_id: Option<String>,
    pub user_id: Option<String>,
    /// Only events older than this sequence number (the cursor).
    pub before_seq: Option<i64>,
    pub limit: i64,
}

/// Events matching every given filter, newest first. Only the filters given become SQL
/// conditions, so each query can use its `(column, seq)` index.
pub async fn list(conn: &mut AnyConnection, q: &Query) -> Result<Vec<Event>, StoreError> {
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
            values.push(v);
            conditions.push(format!("{column} = ${}", values.len()));
        }
    }
    if q.before_seq.is_some() {
        conditions.push(format!("seq < ${}", values.len() + 1));
    }
    let limit_param = values.len() + usize::from(q.before_seq.is_some()) + 1;
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
    let mut query = sqlx::query(&sql);
    for v in values {
        query = query.bind(v);
    }
    if let Some(seq) = q.before_seq {
        query = query.bind(seq);
    }
    let rows = query.bind(q.limit).fetch_all(conn).await?;
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
