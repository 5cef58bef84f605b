//! Webhook endpoints and their delivery log. Each endpoint follows the events feed from
//! its own position; the server's sender leases an endpoint, delivers what follows its
//! position in order, and moves the position past each event once the endpoint took it
//! (at least once, in order). Its secret is kept sealed (it signs deliveries).

use crate::audit::{self, NewEvent, Position};
use crate::db::{self, Conn};
use crate::{from_json_text, json_text, new_id, Ctx, StoreError};
use serde::Serialize;
use serde_json::json;

#[derive(Debug, Clone, Serialize)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// Event types (empty: all).
    pub types: Vec<String>,
    /// Organization ids (empty: all).
    pub organizations: Vec<String>,
    #[serde(skip)]
    pub secret_sealed: String,
    /// After a rotation: the previous secret (sealed), signing too until the time given.
    #[serde(skip)]
    pub previous_secret: Option<(String, i64)>,
    pub enabled: bool,
    #[serde(skip)]
    pub position: Position,
    /// Failed attempts at the event it is on.
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub failing_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The lease this copy was read under ([`lease_due`]).
    #[serde(skip)]
    pub lease_token: Option<String>,
}

const SELECT: &str = "SELECT id, url, types, organizations, secret, previous_secret, previous_until, enabled, cursor_tx, cursor_seq, attempts, \
     next_attempt_at, failing_since, created_at, updated_at, lease_token FROM webhooks";

fn read(r: &db::Row) -> Result<Webhook, StoreError> {
    Ok(Webhook {
        id: r.try_get("id")?,
        url: r.try_get("url")?,
        types: from_json_text(&r.try_get::<String, _>("types")?)?,
        organizations: from_json_text(&r.try_get::<String, _>("organizations")?)?,
        secret_sealed: r.try_get("secret")?,
        previous_secret: match (
            r.try_get::<Option<String>, _>("previous_secret")?,
            r.try_get::<Option<i64>, _>("previous_until")?,
        ) {
            (Some(s), Some(until)) => Some((s, until)),
            _ => None,
        },
        enabled: r.try_get::<i32, _>("enabled")? != 0,
        position: Position {
            tx: r.try_get("cursor_tx")?,
            seq: r.try_get("cursor_seq")?,
        },
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        failing_since: r.try_get("failing_since")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        lease_token: r.try_get("lease_token")?,
    })
}

/// What an endpoint is made of; the server checks it.
pub struct Spec<'a> {
    pub url: &'a str,
    pub types: &'a [String],
    /// Organization ids.
    pub organizations: &'a [String],
    pub secret_sealed: &'a str,
}

/// The feed's head now: the last event every reader can already see (on PostgreSQL,
/// of the transactions older than the oldest one running); events after it are new.
async fn head(conn: &mut Conn) -> Result<Position, StoreError> {
    let sql = match crate::backend_of(conn) {
        crate::Backend::Postgres => {
            "SELECT tx, seq FROM audit_events WHERE tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint \
             ORDER BY tx DESC, seq DESC LIMIT 1"
        }
        crate::Backend::Sqlite => "SELECT tx, seq FROM audit_events ORDER BY seq DESC LIMIT 1",
    };
    let row: Option<(i64, i64)> = db::query_as(sql).fetch_optional(conn).await?;
    Ok(row.map_or(Position::default(), |(tx, seq)| Position { tx, seq }))
}

/// Registers an endpoint; it follows the events from now on (from the feed's head).
pub async fn create(conn: &mut Conn, ctx: &Ctx, spec: &Spec<'_>) -> Result<Webhook, StoreError> {
    let id = format!("wh_{}", new_id().replace('-', ""));
    let start = head(conn).await?;
    db::query(
        "INSERT INTO webhooks (id, url, types, organizations, secret, enabled, next_attempt_at, created_at, updated_at, \
         cursor_tx, cursor_seq) VALUES ($1, $2, $3, $4, $5, 1, $6, $6, $6, $7, $8)",
    )
    .bind(&id)
    .bind(spec.url)
    .bind(json_text(&spec.types)?)
    .bind(json_text(&spec.organizations)?)
    .bind(spec.secret_sealed)
    .bind(ctx.now)
    .bind(start.tx)
    .bind(start.seq)
    .execute(&mut *conn)
    .await?;
    let w = find(conn, &id).await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "webhook.create",
            object_kind: "webhook",
            object_id: &w.id,
            after: Some(json!({ "url": w.url, "types": w.types, "organizations": w.organizations })),
            ..Default::default()
        },
    )
    .await?;
    Ok(w)
}

pub async fn find(conn: &mut Conn, id: &str) -> Result<Webhook, StoreError> {
    let row = db::query(&format!("{SELECT} WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| StoreError::not_found("webhook", id))?;
    read(&row)
}

pub async fn list(conn: &mut Conn) -> Result<Vec<Webhook>, StoreError> {
    let rows = db::query(&format!("{SELECT} ORDER BY created_at, id"))
        .fetch_all(conn)
        .await?;
    rows.iter().map(read).collect()
}

pub async fn delete(conn: &mut Conn, ctx: &Ctx, id: &str) -> Result<(), StoreError> {
    let w = find(conn, id).await?;
    db::query("DELETE FROM webhooks WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "webhook.delete",
            object_kind: "webhook",
            object_id: &w.id,
            before: Some(json!({ "url": w.url })),
            ..Default::default()
        },
    )
    .await
}

/// The condition on `webhooks` of an endpoint due at `$1`: enabled, not waiting out a
/// backoff, not leased, and with events past its position (read by the `(tx, seq)`
/// index on PostgreSQL, by the rowid on SQLite, where `tx` is always 0).
fn due(conn: &mut Conn) -> &'static str {
    match crate::backend_of(conn) {
        crate::Backend::Postgres => {
            "enabled = 1 AND next_attempt_at <= $1 AND lease_until <= $1 AND EXISTS (SELECT 1 FROM audit_events a \
             WHERE (a.tx, a.seq) > (webhooks.cursor_tx, webhooks.cursor_seq) \
             AND a.tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint)"
        }
        crate::Backend::Sqlite => {
            "enabled = 1 AND next_attempt_at <= $1 AND lease_until <= $1 AND EXISTS (SELECT 1 FROM audit_events a \
             WHERE a.seq > webhooks.cursor_seq)"
        }
    }
}

/// Whether an endpoint is due at `now` (a read, so that an idle sender writes nothing).
pub async fn any_due(conn: &mut Conn, now: i64) -> Result<bool, StoreError> {
    let found: Option<String> = db::query_scalar(&format!("SELECT id FROM webhooks WHERE {} LIMIT 1", due(conn)))
        .bind(now)
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
}

/// Up to `limit` enabled endpoints due at `now`, each leased for `lease_ms` so that no
/// other worker or node delivers for it meanwhile.
pub async fn lease_due(conn: &mut Conn, now: i64, lease_ms: i64, limit: i64) -> Result<Vec<Webhook>, StoreError> {
    let lock = match crate::backend_of(conn) {
        crate::Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        crate::Backend::Sqlite => "",
    };
    let rows = db::query(&format!(
        "{SELECT} WHERE {} ORDER BY next_attempt_at LIMIT $2{lock}",
        due(conn)
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut hooks: Vec<Webhook> = rows.iter().map(read).collect::<Result<_, _>>()?;
    for w in &mut hooks {
        let token = new_id();
        db::query("UPDATE webhooks SET lease_until = $2, lease_token = $3 WHERE id = $1")
            .bind(&w.id)
            .bind(now + lease_ms)
            .bind(&token)
            .execute(&mut *conn)
            .await?;
        w.lease_token = Some(token);
    }
    Ok(hooks)
}

/// One delivery attempt, as the log keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: String,
    pub event_id: String,
    /// Where the event is in the feed (for a redelivery).
    #[serde(skip)]
    pub event: Position,
    pub event_type: String,
    pub attempt: i32,
    pub at: i64,
    /// The endpoint's HTTP status; none when it could not be reached.
    pub status: Option<i32>,
    pub latency_ms: i64,
    /// The start of the endpoint's answer.
    pub response: Option<String>,
    pub error: Option<String>,
}

/// What a run of attempts on one endpoint came to, recorded at once.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// The attempts made, in order.
    pub deliveries: Vec<Delivery>,
    /// The position the endpoint is now past (events taken, and those it did not ask
    /// for).
    pub past: Option<Position>,
    /// The last attempt failed: try again at `retry_at` (ms); it failed at `at`.
    pub failed: Option<(i64, i64)>,
}

/// Records `run` for endpoint `webhook_id` under lease `token` in one transaction —
/// its delivery log, its new position, its failure — and extends the lease to
/// `lease_until`. False, recording nothing, when the lease is no longer held (it ran
/// out and another took it, or the endpoint was deleted): the caller stops.
pub async fn record_run(
    conn: &mut Conn,
    webhook_id: &str,
    token: &str,
    run: &Run,
    lease_until: i64,
) -> Result<bool, StoreError> {
    let held = db::query("UPDATE webhooks SET lease_until = $3 WHERE id = $1 AND lease_token = $2")
        .bind(webhook_id)
        .bind(token)
        .bind(lease_until)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if held == 0 {
        return Ok(false);
    }
    for d in &run.deliveries {
        log_delivery(conn, webhook_id, d).await?;
    }
    if let Some(p) = run.past {
        advance(conn, webhook_id, token, p).await?;
    }
    if let Some((retry_at, at)) = run.failed {
        db::query(
            "UPDATE webhooks SET attempts = attempts + 1, next_attempt_at = $2, \
             failing_since = COALESCE(failing_since, $3) WHERE id = $1 AND lease_token = $4",
        )
        .bind(webhook_id)
        .bind(retry_at)
        .bind(at)
        .bind(token)
        .execute(&mut *conn)
        .await?;
    }
    Ok(true)
}

/// Adds attempt `d` to endpoint `webhook_id`'s delivery log (a redelivery asked by an
/// admin is logged so, and moves nothing).
pub async fn log_delivery(conn: &mut Conn, webhook_id: &str, d: &Delivery) -> Result<(), StoreError> {
    db::query(
        "INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, attempt, at, status, latency_ms, response, error, \
         event_tx, event_seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&d.id)
    .bind(webhook_id)
    .bind(&d.event_id)
    .bind(&d.event_type)
    .bind(d.attempt)
    .bind(d.at)
    .bind(d.status)
    .bind(d.latency_ms)
    .bind(d.response.as_deref())
    .bind(d.error.as_deref())
    .bind(d.event.tx)
    .bind(d.event.seq)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Moves endpoint `webhook_id` past position `p` (an event taken, or one it did not ask
/// for), under lease `token`, and only forwards.
async fn advance(conn: &mut Conn, webhook_id: &str, token: &str, p: Position) -> Result<(), StoreError> {
    db::query(
        "UPDATE webhooks SET cursor_tx = $2, cursor_seq = $3, attempts = 0, failing_since = NULL \
         WHERE id = $1 AND lease_token = $4 AND (cursor_tx < $2 OR (cursor_tx = $2 AND cursor_seq < $3))",
    )
    .bind(webhook_id)
    .bind(p.tx)
    .bind(p.seq)
    .bind(token)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends lease `token` of endpoint `webhook_id` (if still held).
pub async fn release(conn: &mut Conn, webhook_id: &str, token: &str) -> Result<(), StoreError> {
    db::query("UPDATE webhooks SET lease_until = 0, lease_token = NULL WHERE id = $1 AND lease_token = $2")
        .bind(webhook_id)
        .bind(token)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes delivery log entries older than `before` (ms), endpoint by endpoint along
/// the (webhook, time) index; returns how many.
pub async fn purge_deliveries(conn: &mut Conn, before: i64) -> Result<u64, StoreError> {
    let ids: Vec<String> = db::query_scalar("SELECT id FROM webhooks")
        .fetch_all(&mut *conn)
        .await?;
    let mut n = 0;
    for id in ids {
        n += db::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND at < $2")
            .bind(&id)
            .bind(before)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(n)
}

/// Endpoint `webhook_id`'s delivery attempts, newest first.
pub async fn deliveries(conn: &mut Conn, webhook_id: &str, limit: i64) -> Result<Vec<Delivery>, StoreError> {
    deliveries_where(conn, webhook_id, None, limit).await
}

async fn deliveries_where(
    conn: &mut Conn,
    webhook_id: &str,
    delivery: Option<&str>,
    limit: i64,
) -> Result<Vec<Delivery>, StoreError> {
    let rows = db::query(
        "SELECT id, event_id, event_tx, event_seq, event_type, attempt, at, status, latency_ms, response, error \
         FROM webhook_deliveries WHERE webhook_id = $1 AND ($2 IS NULL OR id = $2) ORDER BY at DESC, id DESC LIMIT $3",
    )
    .bind(webhook_id)
    .bind(delivery)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Delivery {
                id: r.try_get("id")?,
                event_id: r.try_get("event_id")?,
                event: Position {
                    tx: r.try_get("event_tx")?,
                    seq: r.try_get("event_seq")?,
                },
                event_type: r.try_get("event_type")?,
                attempt: r.try_get("attempt")?,
                at: r.try_get("at")?,
                status: r.try_get("status")?,
                latency_ms: r.try_get("latency_ms")?,
                response: r.try_get("response")?,
                error: r.try_get("error")?,
            })
        })
        .collect()
}

/// Gives endpoint `id` a new secret (sealed); the current one keeps signing too until
/// `previous_until`.
pub async fn rotate_secret(
    conn: &mut Conn,
    ctx: &Ctx,
    id: &str,
    secret_sealed: &str,
    previous_until: i64,
) -> Result<Webhook, StoreError> {
    let w = find(conn, id).await?;
    db::query(
        "UPDATE webhooks SET previous_secret = secret, previous_until = $3, secret = $2, updated_at = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(secret_sealed)
    .bind(previous_until)
    .bind(ctx.now)
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "webhook.rotate_secret",
            object_kind: "webhook",
            object_id: &w.id,
            ..Default::default()
        },
    )
    .await?;
    find(conn, id).await
}

/// A change of an endpoint's target or filters; `None` keeps what it has.
#[derive(Debug, Default)]
pub struct Change<'a> {
    pub url: Option<&'a str>,
    pub types: Option<&'a [String]>,
    /// Organization ids.
    pub organizations: Option<&'a [String]>,
}

/// Changes endpoint `id`'s URL or filters. It goes on from its position: the events
/// from then on are sent to the new URL, through the new filters.
pub async fn update(conn: &mut Conn, ctx: &Ctx, id: &str, change: &Change<'_>) -> Result<Webhook, StoreError> {
    let w = find(conn, id).await?;
    let url = change.url.unwrap_or(&w.url);
    let types = change.types.unwrap_or(&w.types);
    let organizations = change.organizations.unwrap_or(&w.organizations);
    db::query("UPDATE webhooks SET url = $2, types = $3, organizations = $4, updated_at = $5 WHERE id = $1")
        .bind(id)
        .bind(url)
        .bind(json_text(&types)?)
        .bind(json_text(&organizations)?)
        .bind(ctx.now)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "webhook.update",
            object_kind: "webhook",
            object_id: &w.id,
            before: Some(json!({ "url": w.url, "types": w.types, "organizations": w.organizations })),
            after: Some(json!({ "url": url, "types": types, "organizations": organizations })),
            ..Default::default()
        },
    )
    .await?;
    find(conn, id).await
}

/// Turns endpoint `id` off (`reason` says why: an admin, or constant failure) or on
/// again (from where it stopped, its attempts reset).
pub async fn set_enabled(
    conn: &mut Conn,
    ctx: &Ctx,
    id: &str,
    enabled: bool,
    reason: &str,
) -> Result<Webhook, StoreError> {
    let w = find(conn, id).await?;
    if w.enabled == enabled {
        return Ok(w);
    }
    db::query(
        "UPDATE webhooks SET enabled = $2, attempts = 0, failing_since = NULL, next_attempt_at = $3, updated_at = $3 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(i32::from(enabled))
    .bind(ctx.now)
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: if enabled { "webhook.enable" } else { "webhook.disable" },
            object_kind: "webhook",
            object_id: &w.id,
            before: Some(json!({ "enabled": w.enabled, "url": w.url })),
            after: Some(json!({ "enabled": enabled, "url": w.url })),
            reason: Some(reason.to_string()),
            ..Default::default()
        },
    )
    .await?;
    find(conn, id).await
}

/// Delivery attempt `delivery` of endpoint `webhook_id`.
pub async fn find_delivery(conn: &mut Conn, webhook_id: &str, delivery: &str) -> Result<Delivery, StoreError> {
    deliveries_where(conn, webhook_id, Some(delivery), 1)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::not_found("delivery", delivery))
}
