//! Admin console sessions. A session is found by its cookie's token (kept hashed) and
//! is live only while what it stands on is: an operator's admin token not revoked; an
//! owner's sign-in session not ended, and their owner role active in the company.

use crate::db::{self, Conn};
use crate::tokens::{hash_secret, random_secret};
use crate::StoreError;

/// Who a console session is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// The operator, through admin token `admin_token_id`: every company.
    Operator { admin_token_id: String },
    /// An owner of an organization of `company_id`, signed in through its SSO.
    Owner {
        user_id: String,
        company_id: String,
        sso_session_id: String,
    },
}

#[derive(Debug, Clone)]
pub struct ConsoleSession {
    /// The hash of the token.
    pub id: String,
    pub holder: Holder,
    /// The token the session's forms carry.
    pub csrf: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// When the operator last entered the admin token.
    pub reauth_at: i64,
}

/// Starts a session for `holder` that ends at `expires_at`; answers it and the token for
/// the cookie (shown nowhere else).
pub async fn start(
    conn: &mut Conn,
    holder: Holder,
    now: i64,
    expires_at: i64,
) -> Result<(ConsoleSession, String), StoreError> {
    let token = random_secret();
    let session = ConsoleSession {
        id: hash_secret(&token),
        holder,
        csrf: random_secret(),
        created_at: now,
        expires_at,
        reauth_at: now,
    };
    let (kind, admin_token_id, user_id, company_id, sso_session_id) = match &session.holder {
        Holder::Operator { admin_token_id } => ("operator", Some(admin_token_id.as_str()), None, None, None),
        Holder::Owner {
            user_id,
            company_id,
            sso_session_id,
        } => (
            "owner",
            None,
            Some(user_id.as_str()),
            Some(company_id.as_str()),
            Some(sso_session_id.as_str()),
        ),
    };
    db::query(
        "INSERT INTO console_sessions (id, kind, admin_token_id, user_id, company_id, sso_session_id, csrf, \
         created_at, expires_at, reauth_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8)",
    )
    .bind(&session.id)
    .bind(kind)
    .bind(admin_token_id)
    .bind(user_id)
    .bind(company_id)
    .bind(sso_session_id)
    .bind(&session.csrf)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok((session, token))
}

/// The live session whose token is `token`, or `None`.
pub async fn find(conn: &mut Conn, token: &str, now: i64) -> Result<Option<ConsoleSession>, StoreError> {
    // Live: not expired, and what it stands on still holds (checked in the same query).
    let row = db::query(
        "SELECT c.id, c.kind, c.admin_token_id, c.user_id, c.company_id, c.sso_session_id, c.csrf, c.created_at, \
         c.expires_at, c.reauth_at FROM console_sessions c WHERE c.id = $1 AND c.expires_at > $2 AND ( \
         (c.kind = 'operator' AND EXISTS (SELECT 1 FROM admin_tokens t WHERE t.id = c.admin_token_id AND t.revoked_at IS NULL)) \
         OR (c.kind = 'owner' AND EXISTS (SELECT 1 FROM sessions s WHERE s.id = c.sso_session_id \
              AND s.ended_at IS NULL AND s.expires_at > $2) \
             AND EXISTS (SELECT 1 FROM memberships m JOIN organizations o ON o.id = m.organization_id \
              WHERE m.user_id = c.user_id AND o.company_id = c.company_id AND m.role = 'owner' AND m.state = 'active')))",
    )
    .bind(hash_secret(token))
    .bind(now)
    .fetch_optional(conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let kind: String = r.try_get("kind")?;
    let text = |c: &str| -> Result<String, StoreError> {
        r.try_get::<Option<String>, _>(c)?
            .ok_or(StoreError::Misuse("a console session without its holder"))
    };
    let holder = if kind == "operator" {
        Holder::Operator {
            admin_token_id: text("admin_token_id")?,
        }
    } else {
        Holder::Owner {
            user_id: text("user_id")?,
            company_id: text("company_id")?,
            sso_session_id: text("sso_session_id")?,
        }
    };
    Ok(Some(ConsoleSession {
        id: r.try_get("id")?,
        holder,
        csrf: r.try_get("csrf")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        reauth_at: r.try_get("reauth_at")?,
    }))
}

/// The operator entered the admin token again.
pub async fn reauthenticated(conn: &mut Conn, id: &str, now: i64) -> Result<(), StoreError> {
    db::query("UPDATE console_sessions SET reauth_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends session `id` (sign-out).
pub async fn end(conn: &mut Conn, id: &str) -> Result<(), StoreError> {
    db::query("DELETE FROM console_sessions WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The company ids in which `user_id` is an active owner.
pub async fn owned_companies(conn: &mut Conn, user_id: &str) -> Result<Vec<String>, StoreError> {
    db::query_scalar(
        "SELECT DISTINCT o.company_id FROM memberships m JOIN organizations o ON o.id = m.organization_id \
         WHERE m.user_id = $1 AND m.role = 'owner' AND m.state = 'active'",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await
}

/// Removes expired sessions (the retention sweep).
pub async fn purge(conn: &mut Conn, now: i64) -> Result<u64, StoreError> {
    Ok(db::query("DELETE FROM console_sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(conn)
        .await?
        .rows_affected())
}
