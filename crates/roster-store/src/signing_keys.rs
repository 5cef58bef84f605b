//! The keys Roster signs the tokens it issues with: one active key per algorithm;
//! a rotation retires the active ones, which stay published for an overlap so that
//! tokens signed just before still verify. Private keys are stored as the server sealed
//! them.

use crate::audit::{self, NewEvent};
use crate::db::{self, Conn};
use crate::{from_json_text, Ctx, StoreError};
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct SigningKey {
    /// The `kid`.
    pub id: String,
    pub alg: String,
    /// Sealed by the server.
    pub private_key: String,
    pub public_jwk: Value,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

const SELECT: &str = "SELECT id, alg, private_key, public_jwk, created_at, retired_at FROM signing_keys";

fn read(row: &db::Row) -> Result<SigningKey, StoreError> {
    Ok(SigningKey {
        id: row.try_get("id")?,
        alg: row.try_get("alg")?,
        private_key: row.try_get("private_key")?,
        public_jwk: from_json_text(&row.try_get::<String, _>("public_jwk")?)?,
        created_at: row.try_get("created_at")?,
        retired_at: row.try_get("retired_at")?,
    })
}

/// The active key of `alg`, if one was made.
pub async fn active(conn: &mut Conn, alg: &str) -> Result<Option<SigningKey>, StoreError> {
    let row = db::query(&format!(
        "{SELECT} WHERE alg = $1 AND retired_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 1"
    ))
    .bind(alg)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(read).transpose()
}

/// The keys to publish at `now`: the active ones, and those retired less than
/// `overlap_ms` ago, newest first.
pub async fn published(conn: &mut Conn, now: i64, overlap_ms: i64) -> Result<Vec<SigningKey>, StoreError> {
    let rows = db::query(&format!(
        "{SELECT} WHERE retired_at IS NULL OR retired_at > $1 ORDER BY created_at DESC, id DESC"
    ))
    .bind(now.saturating_sub(overlap_ms))
    .fetch_all(conn)
    .await?;
    rows.iter().map(read).collect()
}

/// Stores a new active key of `alg` (the caller retired the previous one, if any).
pub async fn add(conn: &mut Conn, ctx: &Ctx, key: &SigningKey) -> Result<(), StoreError> {
    db::query("INSERT INTO signing_keys (id, alg, private_key, public_jwk, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&key.id)
        .bind(&key.alg)
        .bind(&key.private_key)
        .bind(key.public_jwk.to_string())
        .bind(ctx.now)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "signing_key.create",
            object_kind: "signing_key",
            object_id: &key.id,
            after: Some(json!({ "alg": key.alg })),
            ..Default::default()
        },
    )
    .await
}

/// Retires the active key of `alg`, if any; returns its id.
pub async fn retire(conn: &mut Conn, ctx: &Ctx, alg: &str) -> Result<Option<String>, StoreError> {
    let Some(cur) = active(conn, alg).await? else {
        return Ok(None);
    };
    db::query("UPDATE signing_keys SET retired_at = $2 WHERE id = $1")
        .bind(&cur.id)
        .bind(ctx.now)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "signing_key.retire",
            object_kind: "signing_key",
            object_id: &cur.id,
            after: Some(json!({ "alg": alg })),
            ..Default::default()
        },
    )
    .await?;
    Ok(Some(cur.id))
}
