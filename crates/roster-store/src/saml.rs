//! SAML state kept by the SP: its key pairs per connection, the AuthnRequests it issued
//! (InResponseTo must name one; each is used once) and the replay cache of assertion IDs.
//! All of it lives in the database, so every node of a cluster sees the same.

use crate::audit::{self, NewEvent};
use crate::db::{self, Conn};
use crate::{new_id, Ctx, StoreError};
use serde_json::json;

/// One SP key pair of a connection.
#[derive(Debug, Clone)]
pub struct SpKey {
    pub id: String,
    pub private_key_pem: String,
    pub certificate_pem: String,
    pub created_at: i64,
    pub not_after: i64,
    /// When it stops being used (set when a newer key replaces it).
    pub retires_at: Option<i64>,
}

/// The connection's keys still in use at `now`: the current key (the one not retiring)
/// first, then the newest; the first signs, all decrypt and are published.
pub async fn live_keys(conn: &mut Conn, connection_id: &str, now: i64) -> Result<Vec<SpKey>, StoreError> {
    let rows = db::query(
        "SELECT id, private_key_pem, certificate_pem, created_at, not_after, retires_at FROM saml_sp_keys \
         WHERE connection_id = $1 AND (retires_at IS NULL OR retires_at > $2) ORDER BY CASE WHEN retires_at IS NULL THEN 0 ELSE 1 END, created_at DESC, id DESC",
    )
    .bind(connection_id)
    .bind(now)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(SpKey {
                id: r.try_get("id")?,
                private_key_pem: r.try_get("private_key_pem")?,
                certificate_pem: r.try_get("certificate_pem")?,
                created_at: r.try_get("created_at")?,
                not_after: r.try_get("not_after")?,
                retires_at: r.try_get("retires_at")?,
            })
        })
        .collect()
}

/// Adds a key pair. Keys in use so far retire at `retire_others_at` (the overlap during
/// which the IdP may still encrypt to them); `None` leaves them as they are.
pub async fn add_key(
    conn: &mut Conn,
    ctx: &Ctx,
    connection_id: &str,
    private_key_pem: &str,
    certificate_pem: &str,
    not_after: i64,
    retire_others_at: Option<i64>,
) -> Result<SpKey, StoreError> {
    if let Some(at) = retire_others_at {
        db::query("UPDATE saml_sp_keys SET retires_at = $1 WHERE connection_id = $2 AND (retires_at IS NULL OR retires_at > $1)")
            .bind(at)
            .bind(connection_id)
            .execute(&mut *conn)
            .await?;
    }
    let id = new_id();
    db::query(
        "INSERT INTO saml_sp_keys (id, connection_id, private_key_pem, certificate_pem, created_at, not_after) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(connection_id)
    .bind(private_key_pem)
    .bind(certificate_pem)
    .bind(ctx.now)
    .bind(not_after)
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "saml_sp_key.create",
            object_kind: "saml_sp_key",
            object_id: &id,
            connection_id: Some(connection_id),
            after: Some(json!({ "not_after": not_after, "others_retire_at": retire_others_at })),
            ..Default::default()
        },
    )
    .await?;
    Ok(SpKey {
        id,
        private_key_pem: private_key_pem.to_string(),
        certificate_pem: certificate_pem.to_string(),
        created_at: ctx.now,
        not_after,
        retires_at: None,
    })
}

/// Records an AuthnRequest this server sent, and drops expired ones.
pub async fn remember_request(
    conn: &mut Conn,
    id: &str,
    connection_id: &str,
    return_to: &str,
    browser_hash: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    db::query("DELETE FROM saml_requests WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    db::query(
        "INSERT INTO saml_requests (id, connection_id, return_to, created_at, expires_at, browser_hash) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(connection_id)
    .bind(return_to)
    .bind(now)
    .bind(expires_at)
    .bind(browser_hash)
    .execute(conn)
    .await?;
    Ok(())
}

/// Uses up the request `id` of `connection_id`: its `return_to` when it was issued for
/// this connection to the browser whose binding secret hashes to `browser_hash`, and has
/// not expired or been used; `None` otherwise (and the request stays for its browser).
pub async fn take_request(
    conn: &mut Conn,
    id: &str,
    connection_id: &str,
    browser_hash: &str,
    now: i64,
) -> Result<Option<String>, StoreError> {
    let row = db::query(
        "DELETE FROM saml_requests WHERE id = $1 AND connection_id = $2 AND expires_at > $3 AND browser_hash = $4 \
         RETURNING return_to",
    )
    .bind(id)
    .bind(connection_id)
    .bind(now)
    .bind(browser_hash)
    .fetch_optional(conn)
    .await?;
    row.map(|r| r.try_get("return_to")).transpose()
}

/// Whether `id` is a live request of `connection_id`, whichever browser it is bound to
/// (to tell a response from another browser from one that answers nothing).
pub async fn request_pending(conn: &mut Conn, id: &str, connection_id: &str, now: i64) -> Result<bool, StoreError> {
    let found: Option<String> =
        db::query_scalar("SELECT id FROM saml_requests WHERE id = $1 AND connection_id = $2 AND expires_at > $3")
            .bind(id)
            .bind(connection_id)
            .bind(now)
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}

/// Records that an assertion was used. False when it was already (a replay).
pub async fn first_use(
    conn: &mut Conn,
    connection_id: &str,
    assertion_id: &str,
    keep_until: i64,
    now: i64,
) -> Result<bool, StoreError> {
    // Expired by the assertions' own ends, with a margin for nodes whose clocks run
    // ahead (see `retention`).
    db::query("DELETE FROM saml_replay WHERE expires_at <= $1")
        .bind(now.saturating_sub(crate::retention::REPLAY_MARGIN_MS))
        .execute(&mut *conn)
        .await?;
    let done = db::query(
        "INSERT INTO saml_replay (connection_id, assertion_id, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (connection_id, assertion_id) DO NOTHING",
    )
    .bind(connection_id)
    .bind(assertion_id)
    .bind(keep_until)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Every SP key's id and stored private key (to seal those stored before sealing).
pub async fn private_keys(conn: &mut Conn) -> Result<Vec<(String, String)>, StoreError> {
    let rows = db::query("SELECT id, private_key_pem FROM saml_sp_keys")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("private_key_pem")?)))
        .collect()
}

/// Replaces SP key `id`'s stored private key.
pub async fn set_private_key(conn: &mut Conn, id: &str, stored: &str) -> Result<(), StoreError> {
    db::query("UPDATE saml_sp_keys SET private_key_pem = $1 WHERE id = $2")
        .bind(stored)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
