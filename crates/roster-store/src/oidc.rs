//! Pending OIDC sign-ins: each authorization request until its callback uses it up.

use crate::db::{self, Conn};
use crate::StoreError;

/// One pending sign-in.
#[derive(Clone)]
pub struct OidcRequest {
    /// The `state` sent to the provider.
    pub id: String,
    pub connection_id: String,
    pub return_to: String,
    pub browser_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// The nonce, the PKCE verifier and the browser binding never reach a log.
impl std::fmt::Debug for OidcRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcRequest")
            .field("id", &self.id)
            .field("connection_id", &self.connection_id)
            .field("return_to", &self.return_to)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Records a new pending sign-in (and drops expired ones).
pub async fn remember_request(conn: &mut Conn, r: &OidcRequest) -> Result<(), StoreError> {
    db::query("DELETE FROM oidc_requests WHERE expires_at <= $1")
        .bind(r.created_at)
        .execute(&mut *conn)
        .await?;
    db::query(
        "INSERT INTO oidc_requests (id, connection_id, return_to, browser_hash, nonce, pkce_verifier, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&r.id)
    .bind(&r.connection_id)
    .bind(&r.return_to)
    .bind(&r.browser_hash)
    .bind(&r.nonce)
    .bind(&r.pkce_verifier)
    .bind(r.created_at)
    .bind(r.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Uses up the live request `id` of `connection_id` bound to the browser whose secret
/// hashes to `browser_hash`: it answers once.
pub async fn take_request(
    conn: &mut Conn,
    id: &str,
    connection_id: &str,
    browser_hash: &str,
    now: i64,
) -> Result<Option<OidcRequest>, StoreError> {
    let row = db::query(
        "DELETE FROM oidc_requests WHERE id = $1 AND connection_id = $2 AND expires_at > $3 AND browser_hash = $4 \
         RETURNING id, connection_id, return_to, browser_hash, nonce, pkce_verifier, created_at, expires_at",
    )
    .bind(id)
    .bind(connection_id)
    .bind(now)
    .bind(browser_hash)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(OidcRequest {
            id: r.try_get("id")?,
            connection_id: r.try_get("connection_id")?,
            return_to: r.try_get("return_to")?,
            browser_hash: r.try_get("browser_hash")?,
            nonce: r.try_get("nonce")?,
            pkce_verifier: r.try_get("pkce_verifier")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
        })
    })
    .transpose()
}

/// Whether `id` is a live request of `connection_id`, whichever browser it is bound to
/// (to tell a callback from another browser from one that answers nothing).
pub async fn request_pending(conn: &mut Conn, id: &str, connection_id: &str, now: i64) -> Result<bool, StoreError> {
    let found: Option<String> =
        db::query_scalar("SELECT id FROM oidc_requests WHERE id = $1 AND connection_id = $2 AND expires_at > $3")
            .bind(id)
            .bind(connection_id)
            .bind(now)
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}
