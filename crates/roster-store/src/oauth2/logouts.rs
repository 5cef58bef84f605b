//! The outbox of back-channel logouts: queued with the change that ended a session
//! (see [`end_grants`](super::end_grants)), leased by the sender, retried until
//! delivered or given up.

use crate::db::{self, Conn};
use crate::StoreError;

/// A back-channel logout to deliver.
#[derive(Debug, Clone)]
pub struct Logout {
    pub id: String,
    pub app_id: String,
    pub uri: String,
    pub user_id: String,
    pub session_id: String,
    pub attempts: i32,
}

/// Up to `limit` logouts due at `now`, each put off by `lease_ms` so that another
/// worker (or node) does not send it at the same time.
pub async fn due_logouts(conn: &mut Conn, now: i64, limit: i64, lease_ms: i64) -> Result<Vec<Logout>, StoreError> {
    let lock = match crate::backend_of(conn) {
        crate::Backend::Postgres => " FOR UPDATE OF l SKIP LOCKED",
        crate::Backend::Sqlite => "",
    };
    let rows = db::query(&format!(
        "SELECT l.id, l.app_id, a.backchannel_logout_uri AS uri, l.user_id, l.session_id, l.attempts \
         FROM oauth2_logouts l JOIN apps a ON a.id = l.app_id WHERE l.delivered_at IS NULL AND l.given_up_at IS NULL \
         AND l.next_attempt_at <= $1 AND a.backchannel_logout_uri IS NOT NULL ORDER BY l.next_attempt_at LIMIT $2{lock}"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let l = Logout {
            id: r.try_get("id")?,
            app_id: r.try_get("app_id")?,
            uri: r.try_get("uri")?,
            user_id: r.try_get("user_id")?,
            session_id: r.try_get("session_id")?,
            attempts: r.try_get("attempts")?,
        };
        db::query("UPDATE oauth2_logouts SET next_attempt_at = $2 WHERE id = $1")
            .bind(&l.id)
            .bind(now + lease_ms)
            .execute(&mut *conn)
            .await?;
        out.push(l);
    }
    Ok(out)
}

/// How one delivery attempt went.
#[derive(Debug, Clone)]
pub enum Attempt {
    Delivered,
    /// Failed; tried again at `retry_at`, or given up when `None`.
    Failed {
        error: String,
        retry_at: Option<i64>,
    },
}

/// Records an attempt at logout `id`.
pub async fn logout_attempted(conn: &mut Conn, id: &str, now: i64, attempt: &Attempt) -> Result<(), StoreError> {
    let q = match attempt {
        Attempt::Delivered => db::query(
            "UPDATE oauth2_logouts SET attempts = attempts + 1, delivered_at = $2, last_error = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(now),
        Attempt::Failed { error, retry_at } => db::query(
            "UPDATE oauth2_logouts SET attempts = attempts + 1, last_error = $3, next_attempt_at = COALESCE($4, next_attempt_at), \
             given_up_at = CASE WHEN $4 IS NULL THEN $2 ELSE NULL END WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .bind(error.chars().take(300).collect::<String>())
        .bind(*retry_at),
    };
    q.execute(conn).await?;
    Ok(())
}

/// How a back-channel logout stands.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LogoutState {
    pub app_id: String,
    pub session_id: String,
    pub attempts: i32,
    pub delivered_at: Option<i64>,
    pub given_up_at: Option<i64>,
    pub last_error: Option<String>,
}

/// The back-channel logouts sent (or being sent) for a person, newest first.
pub async fn logouts_of(conn: &mut Conn, user_id: &str) -> Result<Vec<LogoutState>, StoreError> {
    let rows = db::query(
        "SELECT app_id, session_id, attempts, delivered_at, given_up_at, last_error FROM oauth2_logouts \
         WHERE user_id = $1 ORDER BY created_at DESC",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(LogoutState {
                app_id: r.try_get("app_id")?,
                session_id: r.try_get("session_id")?,
                attempts: r.try_get("attempts")?,
                delivered_at: r.try_get("delivered_at")?,
                given_up_at: r.try_get("given_up_at")?,
                last_error: r.try_get("last_error")?,
            })
        })
        .collect()
}
