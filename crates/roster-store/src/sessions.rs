//! Sessions a sign-in yields (T1). The cookie holds a random token; only its SHA-256
//! is stored.

use crate::db::{self, Conn};
use crate::tokens::{hash_secret, random_secret};
use crate::{new_id, StoreError};
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub company_id: Option<String>,
    pub connection_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    /// When it was last used (refreshed at most once a minute, [`touch`]).
    pub last_seen_at: i64,
}

/// `last_seen_at` is written at most this often.
pub const TOUCH_EVERY_MS: i64 = 60_000;

/// Starts a session that ends at `expires_at`, or earlier after `idle_timeout_ms` without
/// use; returns it with the token for the cookie.
pub async fn start(
    conn: &mut Conn,
    user_id: &str,
    company_id: &str,
    connection_id: &str,
    now: i64,
    expires_at: i64,
    idle_timeout_ms: Option<i64>,
) -> Result<(Session, String), StoreError> {
    let token = random_secret();
    let id = new_id();
    db::query(
        "INSERT INTO sessions (id, token_hash, user_id, company_id, connection_id, created_at, expires_at, last_seen_at, \
         idle_timeout_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $8)",
    )
    .bind(&id)
    .bind(hash_secret(&token))
    .bind(user_id)
    .bind(company_id)
    .bind(connection_id)
    .bind(now)
    .bind(expires_at)
    .bind(idle_timeout_ms)
    .execute(conn)
    .await?;
    Ok((
        Session {
            id,
            user_id: user_id.to_string(),
            company_id: Some(company_id.to_string()),
            connection_id: Some(connection_id.to_string()),
            created_at: now,
            expires_at,
            last_seen_at: now,
        },
        token,
    ))
}

/// The live session (not ended, not expired, not idle past its timeout) the token
/// belongs to.
pub async fn find_live(conn: &mut Conn, token: &str, now: i64) -> Result<Option<Session>, StoreError> {
    let row = db::query(
        "SELECT id, user_id, company_id, connection_id, created_at, expires_at, last_seen_at FROM sessions \
         WHERE token_hash = $1 AND ended_at IS NULL AND expires_at > $2 \
         AND (idle_timeout_ms IS NULL OR last_seen_at + idle_timeout_ms > $2)",
    )
    .bind(hash_secret(token))
    .bind(now)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(Session {
            id: r.try_get("id")?,
            user_id: r.try_get("user_id")?,
            company_id: r.try_get("company_id")?,
            connection_id: r.try_get("connection_id")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
            last_seen_at: r.try_get("last_seen_at")?,
        })
    })
    .transpose()
}

/// Records that session `id` was used at `now` (the idle timeout counts from here).
pub async fn touch(conn: &mut Conn, id: &str, now: i64) -> Result<(), StoreError> {
    db::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1")
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether `user_id` still has an active membership in one of `connection_id`'s
/// organizations, those rows locked until the transaction ends (PostgreSQL runs writes in
/// parallel: a deactivation that commits first is seen here, one that comes later waits
/// and then ends the session this transaction starts).
pub async fn lock_active_membership(conn: &mut Conn, user_id: &str, connection_id: &str) -> Result<bool, StoreError> {
    let lock = match crate::backend_of(conn) {
        crate::Backend::Postgres => " FOR UPDATE OF m",
        crate::Backend::Sqlite => "",
    };
    let found = db::query(&format!(
        "SELECT m.organization_id FROM memberships m JOIN connection_organizations co \
         ON co.organization_id = m.organization_id WHERE co.connection_id = $1 AND m.user_id = $2 \
         AND m.state = 'active'{lock}"
    ))
    .bind(connection_id)
    .bind(user_id)
    .fetch_all(conn)
    .await?;
    Ok(!found.is_empty())
}

/// Ends the session the token belongs to (sign-out), and what apps were granted through
/// it.
pub async fn end(conn: &mut Conn, token: &str, now: i64) -> Result<bool, StoreError> {
    let id: Option<String> = db::query_scalar("SELECT id FROM sessions WHERE token_hash = $1 AND ended_at IS NULL")
        .bind(hash_secret(token))
        .fetch_optional(&mut *conn)
        .await?;
    let Some(id) = id else { return Ok(false) };
    end_by_id(conn, &id, now).await
}

/// Ends session `id` and what apps were granted through it.
pub async fn end_by_id(conn: &mut Conn, id: &str, now: i64) -> Result<bool, StoreError> {
    crate::oauth2::end_grants(conn, crate::oauth2::Ending::Session(id), now, "signed_out").await?;
    let done = db::query("UPDATE sessions SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A membership as `/me` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct MembershipView {
    pub organization: String,
    pub role: String,
    pub state: String,
    pub teams: Vec<String>,
}

/// The user's memberships in the company's organizations, with their teams there.
/// Two queries, whatever the number of memberships.
pub async fn memberships(conn: &mut Conn, user_id: &str, company_id: &str) -> Result<Vec<MembershipView>, StoreError> {
    let rows = db::query(
        "SELECT o.id, o.name, m.role, m.state FROM memberships m JOIN organizations o ON o.id = m.organization_id \
         WHERE m.user_id = $1 AND o.company_id = $2 ORDER BY o.name_key",
    )
    .bind(user_id)
    .bind(company_id)
    .fetch_all(&mut *conn)
    .await?;
    let teams = db::query(
        "SELECT t.organization_id, t.name FROM team_members tm JOIN teams t ON t.id = tm.team_id \
         JOIN organizations o ON o.id = t.organization_id WHERE tm.user_id = $1 AND o.company_id = $2 ORDER BY t.name_key",
    )
    .bind(user_id)
    .bind(company_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let org_id: String = r.try_get("id")?;
        let mut names = Vec::new();
        for t in &teams {
            if t.try_get::<String, _>("organization_id")? == org_id {
                names.push(t.try_get("name")?);
            }
        }
        out.push(MembershipView {
            organization: r.try_get("name")?,
            role: r.try_get("role")?,
            state: r.try_get("state")?,
            teams: names,
        });
    }
    Ok(out)
}
