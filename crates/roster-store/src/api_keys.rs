//! API keys: what an app reads the directory and the events with, and nothing else.
//! Only a hash is kept; a key names its row (`rk_<id>_<secret>`) and is compared in
//! constant time, like the SCIM tokens.

use crate::audit::{self, NewEvent};
use crate::db::{self, Conn};
use crate::tokens::{hash_secret, random_secret};
use crate::{from_json_text, json_text, new_id, Ctx, StoreError};
use serde::Serialize;
use serde_json::json;
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Serialize)]
pub struct ApiKey {
    pub id: String,
    pub scopes: Vec<String>,
    /// Organization ids it may read (empty: all).
    pub organizations: Vec<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

fn read(r: &db::Row) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: r.try_get("id")?,
        scopes: from_json_text(&r.try_get::<String, _>("scopes")?)?,
        organizations: from_json_text(&r.try_get::<String, _>("organizations")?)?,
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

/// Makes a key with `scopes` over `organizations` (ids); returns it with the key itself,
/// shown once.
pub async fn create(
    conn: &mut Conn,
    ctx: &Ctx,
    scopes: &[String],
    organizations: &[String],
) -> Result<(ApiKey, String), StoreError> {
    let id = new_id();
    let key = format!("rk_{}_{}", id.replace('-', ""), random_secret());
    db::query("INSERT INTO api_keys (id, secret_hash, scopes, organizations, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&id)
        .bind(hash_secret(&key))
        .bind(json_text(&scopes)?)
        .bind(json_text(&organizations)?)
        .bind(ctx.now)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "api_key.create",
            object_kind: "api_key",
            object_id: &id,
            after: Some(json!({ "scopes": scopes, "organizations": organizations })),
            ..Default::default()
        },
    )
    .await?;
    Ok((find(conn, &id).await?, key))
}

pub async fn find(conn: &mut Conn, id: &str) -> Result<ApiKey, StoreError> {
    let row = db::query("SELECT id, scopes, organizations, created_at, revoked_at FROM api_keys WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| StoreError::not_found("api key", id))?;
    read(&row)
}

pub async fn list(conn: &mut Conn) -> Result<Vec<ApiKey>, StoreError> {
    let rows =
        db::query("SELECT id, scopes, organizations, created_at, revoked_at FROM api_keys ORDER BY created_at, id")
            .fetch_all(conn)
            .await?;
    rows.iter().map(read).collect()
}

/// Revokes key `id`: it stops working at once.
pub async fn revoke(conn: &mut Conn, ctx: &Ctx, id: &str) -> Result<(), StoreError> {
    let key = find(conn, id).await?;
    if key.revoked_at.is_some() {
        return Ok(());
    }
    db::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1")
        .bind(id)
        .bind(ctx.now)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "api_key.revoke",
            object_kind: "api_key",
            object_id: id,
            ..Default::default()
        },
    )
    .await
}

/// The live key `presented` is, if it is one.
pub async fn verify(conn: &mut Conn, presented: &str) -> Result<Option<ApiKey>, StoreError> {
    let Some((simple, _)) = presented.strip_prefix("rk_").and_then(|r| r.split_once('_')) else {
        return Ok(None);
    };
    let Ok(id) = uuid::Uuid::parse_str(simple) else {
        return Ok(None);
    };
    let row = db::query(
        "SELECT id, secret_hash, scopes, organizations, created_at, revoked_at FROM api_keys \
         WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id.to_string())
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let stored: String = row.try_get("secret_hash")?;
    if bool::from(stored.as_bytes().ct_eq(hash_secret(presented).as_bytes())) {
        Ok(Some(read(&row)?))
    } else {
        Ok(None)
    }
}
