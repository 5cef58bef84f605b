//! Bearer secrets: admin tokens and per-connection SCIM tokens. Only a SHA-256 hash of
//! each secret is stored (the secrets are 256 random bits, so a fast hash is enough);
//! presented secrets are compared with the stored hash in constant time.
//!
//! SCIM tokens read `scim_<token id>_<secret>`: the id finds the row, then the secret's
//! hash is compared. Admin tokens are few and may be chosen by the operator
//! (`ROSTER_ADMIN_TOKEN`), so every active one is compared.

use crate::audit::{self, NewEvent};
use crate::db::{self, Conn};
use crate::{new_id, Ctx, StoreError};
use base64::Engine;
use rand::RngCore;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Hex SHA-256 of a secret.
pub fn hash_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(digest.len() * 2);
    for b in digest {
        for nibble in [b >> 4, b & 0x0f] {
            out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
        }
    }
    out
}

/// 256 random bits, URL-safe base64.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Compares two hashes in constant time.
pub(crate) fn same_hash(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

db::from_row!(TokenInfo {
    id,
    name,
    created_at,
    revoked_at
});

// --- admin tokens ---------------------------------------------------------------

pub async fn create_admin(conn: &mut Conn, ctx: &Ctx, name: &str) -> Result<(TokenInfo, String), StoreError> {
    let secret = format!("roster_admin_{}", random_secret());
    let info = insert_admin(conn, ctx, name, &secret).await?;
    Ok((info, secret))
}

async fn insert_admin(conn: &mut Conn, ctx: &Ctx, name: &str, secret: &str) -> Result<TokenInfo, StoreError> {
    let id = new_id();
    db::query("INSERT INTO admin_tokens (id, name, secret_hash, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(name)
        .bind(hash_secret(secret))
        .bind(ctx.now)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "admin_token.create",
            object_kind: "admin_token",
            object_id: &id,
            after: Some(json!({ "name": name })),
            ..Default::default()
        },
    )
    .await?;
    Ok(TokenInfo {
        id,
        name: name.to_string(),
        created_at: ctx.now,
        revoked_at: None,
    })
}

pub async fn list_admin(conn: &mut Conn) -> Result<Vec<TokenInfo>, StoreError> {
    db::query_as("SELECT id, name, created_at, revoked_at FROM admin_tokens ORDER BY created_at, id")
        .fetch_all(conn)
        .await
}

pub async fn revoke_admin(conn: &mut Conn, ctx: &Ctx, id: &str) -> Result<(), StoreError> {
    let n = db::query("UPDATE admin_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(ctx.now)
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::not_found("admin token", id));
    }
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "admin_token.revoke",
            object_kind: "admin_token",
            object_id: id,
            ..Default::default()
        },
    )
    .await
}

/// The id of the active admin token whose secret is `presented`.
pub async fn verify_admin(conn: &mut Conn, presented: &str) -> Result<Option<String>, StoreError> {
    let rows: Vec<(String, String)> = db::query_as("SELECT id, secret_hash FROM admin_tokens WHERE revoked_at IS NULL")
        .fetch_all(conn)
        .await?;
    let hash = hash_secret(presented);
    let mut found = None;
    // Compare against every row, so the time taken does not tell which one matched.
    for (id, stored) in rows {
        if same_hash(&hash, &stored) {
            found = Some(id);
        }
    }
    Ok(found)
}

/// The advisory lock key that serialises admin token bootstrapping ("roster" and 1).
const BOOTSTRAP_LOCK: i64 = 0x726f_7374_6572_0001;

/// Start-up: with `ROSTER_ADMIN_TOKEN` set, makes it the active `bootstrap` token
/// (replacing an earlier bootstrap value); without it, on a database that has no active
/// admin token, mints one and returns it to be printed once.
pub async fn bootstrap_admin(
    conn: &mut Conn,
    ctx: &Ctx,
    configured: Option<&str>,
) -> Result<Option<String>, StoreError> {
    // Nodes starting together on one fresh database mint one token, not one each:
    // PostgreSQL runs their transactions in parallel, so the second waits for the first
    // to commit and then sees its token. SQLite runs one writer at a time already.
    if conn.backend() == crate::Backend::Postgres {
        db::query("SELECT pg_advisory_xact_lock($1)")
            .bind(BOOTSTRAP_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    if let Some(secret) = configured {
        let hash = hash_secret(secret);
        let current: Vec<(String, String)> =
            db::query_as("SELECT id, secret_hash FROM admin_tokens WHERE name = 'bootstrap' AND revoked_at IS NULL")
                .fetch_all(&mut *conn)
                .await?;
        if current.iter().any(|(_, h)| same_hash(h, &hash)) {
            return Ok(None);
        }
        for (id, _) in current {
            revoke_admin(conn, ctx, &id).await?;
        }
        insert_admin(conn, ctx, "bootstrap", secret).await?;
        return Ok(None);
    }
    let active: i64 = db::query_scalar("SELECT COUNT(*) FROM admin_tokens WHERE revoked_at IS NULL")
        .fetch_one(&mut *conn)
        .await?;
    if active > 0 {
        return Ok(None);
    }
    let secret = format!("roster_admin_{}", random_secret());
    insert_admin(conn, ctx, "bootstrap", &secret).await?;
    Ok(Some(secret))
}

// --- SCIM tokens ----------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct ScimToken {
    pub id: String,
    pub connection_id: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

db::from_row!(ScimToken {
    id,
    connection_id,
    created_at,
    last_used_at,
    revoked_at
});

pub async fn create_scim(
    conn: &mut Conn,
    ctx: &Ctx,
    connection_id: &str,
    company_id: &str,
) -> Result<(ScimToken, String), StoreError> {
    let id = new_id();
    let secret = format!("scim_{}_{}", uuid_simple(&id), random_secret());
    db::query("INSERT INTO scim_tokens (id, connection_id, secret_hash, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(connection_id)
        .bind(hash_secret(&secret))
        .bind(ctx.now)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "scim_token.create",
            object_kind: "scim_token",
            object_id: &id,
            company_id: Some(company_id),
            connection_id: Some(connection_id),
            ..Default::default()
        },
    )
    .await?;
    let token = ScimToken {
        id,
        connection_id: connection_id.to_string(),
        created_at: ctx.now,
        last_used_at: None,
        revoked_at: None,
    };
    Ok((token, secret))
}

fn uuid_simple(id: &str) -> String {
    id.replace('-', "")
}

pub async fn list_scim(conn: &mut Conn, connection_id: &str) -> Result<Vec<ScimToken>, StoreError> {
    db::query_as("SELECT id, connection_id, created_at, last_used_at, revoked_at FROM scim_tokens WHERE connection_id = $1 ORDER BY created_at, id")
        .bind(connection_id)
        .fetch_all(conn)
        .await
}

pub async fn revoke_scim(
    conn: &mut Conn,
    ctx: &Ctx,
    connection_id: &str,
    company_id: &str,
    id: &str,
) -> Result<(), StoreError> {
    let n =
        db::query("UPDATE scim_tokens SET revoked_at = $1 WHERE id = $2 AND connection_id = $3 AND revoked_at IS NULL")
            .bind(ctx.now)
            .bind(id)
            .bind(connection_id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    if n == 0 {
        return Err(StoreError::not_found("SCIM token", id));
    }
    crate::signals::auth_changed(conn, ctx).await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "scim_token.revoke",
            object_kind: "scim_token",
            object_id: id,
            company_id: Some(company_id),
            connection_id: Some(connection_id),
            ..Default::default()
        },
    )
    .await
}

/// (token id, connection id) of the active SCIM token `presented`, if any.
pub async fn verify_scim(conn: &mut Conn, presented: &str) -> Result<Option<(String, String)>, StoreError> {
    let Some(rest) = presented.strip_prefix("scim_") else {
        return Ok(None);
    };
    let Some((simple, _)) = rest.split_once('_') else {
        return Ok(None);
    };
    let Ok(id) = uuid::Uuid::parse_str(simple) else {
        return Ok(None);
    };
    let row: Option<(String, String)> =
        db::query_as("SELECT connection_id, secret_hash FROM scim_tokens WHERE id = $1 AND revoked_at IS NULL")
            .bind(id.to_string())
            .fetch_optional(conn)
            .await?;
    let presented_hash = hash_secret(presented);
    Ok(match row {
        Some((connection_id, stored)) if same_hash(&presented_hash, &stored) => Some((id.to_string(), connection_id)),
        _ => None,
    })
}

/// Notes that a SCIM token was used (at most once a minute, to keep it off the hot path).
pub async fn touch_scim(conn: &mut Conn, token_id: &str, now: i64) -> Result<(), StoreError> {
    db::query("UPDATE scim_tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)")
        .bind(now)
        .bind(token_id)
        .bind(now - 60_000)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::hash_secret;

    #[test]
    fn hash_secret_is_lowercase_hex_sha256() {
        // FIPS 180-2 test vector.
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hash_secret("").len(), 64);
    }
}
