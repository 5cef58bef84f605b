//! What the store keeps, and for how long: rows that only grow with traffic (the error
//! log, finished sessions, unanswered sign-in requests, the replay cache) are purged on a
//! schedule (the server runs [`purge`]), so junk traffic cannot grow a table without
//! bound.

use crate::db::{self, Conn};
use crate::StoreError;

/// How much is kept.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// The newest error-log entries kept per connection.
    pub errors_per_connection: i64,
    /// How long an ended or expired session is kept (ms).
    pub finished_sessions_ms: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            errors_per_connection: 10_000,
            finished_sessions_ms: 24 * 60 * 60 * 1000,
        }
    }
}

/// A replay-cache entry lives until its assertion's own end, plus this margin: a node
/// whose clock runs ahead (by up to the largest clock skew a connection allows, 5
/// minutes) still never forgets an assertion that another node could accept.
pub const REPLAY_MARGIN_MS: i64 = 10 * 60 * 1000;

/// How long a webhook delivery attempt stays in the log.
pub const DELIVERY_LOG_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// Rows purged, by table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub errors: u64,
    pub sessions: u64,
    pub requests: u64,
    pub replays: u64,
    /// Grants to apps ended a while ago (with their tokens), expired codes and access
    /// tokens, and back-channel logouts done with.
    pub grants: u64,
    /// Webhook delivery log entries older than a week.
    pub deliveries: u64,
}

/// Purges, as of `now`, what `policy` no longer keeps.
pub async fn purge(conn: &mut Conn, now: i64, policy: Policy) -> Result<Purged, StoreError> {
    let mut requests = 0;
    for table in ["saml_requests", "oidc_requests", "oauth2_pending"] {
        requests += db::query(&format!("DELETE FROM {table} WHERE expires_at <= $1"))
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    let replays = db::query("DELETE FROM saml_replay WHERE expires_at <= $1")
        .bind(now.saturating_sub(REPLAY_MARGIN_MS))
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let before = now.saturating_sub(policy.finished_sessions_ms);
    let sessions =
        db::query("DELETE FROM sessions WHERE (ended_at IS NOT NULL AND ended_at <= $1) OR expires_at <= $1")
            .bind(before)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            + crate::console::purge(conn, now).await?;
    let mut grants = 0;
    for (sql, at) in [
        (
            "DELETE FROM oauth2_grants WHERE expires_at <= $1 OR (revoked_at IS NOT NULL AND revoked_at <= $1)",
            before,
        ),
        // A used code is kept until it expires, so that a second use is still caught.
        (
            "DELETE FROM oauth2_tokens WHERE kind IN ('code', 'access') AND expires_at <= $1",
            now,
        ),
        (
            "DELETE FROM oauth2_logouts WHERE (delivered_at IS NOT NULL AND delivered_at <= $1) \
             OR (given_up_at IS NOT NULL AND given_up_at <= $1)",
            before,
        ),
    ] {
        grants += db::query(sql).bind(at).execute(&mut *conn).await?.rows_affected();
    }
    let deliveries = crate::webhooks::purge_deliveries(conn, now.saturating_sub(DELIVERY_LOG_MS)).await?;
    let mut purged = Purged {
        errors: 0,
        sessions,
        requests,
        replays,
        grants,
        deliveries,
    };
    // Per connection: the newest `errors_per_connection` entries, by the (connection,
    // seq) index.
    let connections: Vec<String> = db::query_scalar("SELECT DISTINCT connection_id FROM error_log")
        .fetch_all(&mut *conn)
        .await?;
    for connection_id in connections {
        let oldest_kept: Option<i64> =
            db::query_scalar("SELECT seq FROM error_log WHERE connection_id = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2")
                .bind(&connection_id)
                .bind(policy.errors_per_connection.max(1) - 1)
                .fetch_optional(&mut *conn)
                .await?;
        if let Some(seq) = oldest_kept {
            purged.errors += db::query("DELETE FROM error_log WHERE connection_id = $1 AND seq < $2")
                .bind(&connection_id)
                .bind(seq)
                .execute(&mut *conn)
                .await?
                .rows_affected();
        }
    }
    Ok(purged)
}
