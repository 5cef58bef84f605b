//! The keys Roster signs the tokens it issues with (its OpenID Provider): made on first
//! use, one per algorithm, private keys sealed at rest; a rotation makes new ones and
//! keeps the retired ones published for [`OVERLAP_MS`].

use crate::error::Failure;
use crate::state::AppState;
use base64::Engine;
use roster_oidc::signing::{self, Alg};
use roster_store::signing_keys::{self, SigningKey};
use roster_store::{new_id, Ctx, StoreError};
use std::sync::Arc;

/// An active signing key, its private key opened and read.
pub struct IssuerKey(signing::Signer);

/// The active key of `alg`, from the cache (a minute) or the store (made on first use).
/// A key rotated on another node is picked up within the minute; until then tokens are
/// signed with the retired key, which stays published for a day.
pub async fn active(state: &AppState, alg: Alg) -> Result<Arc<IssuerKey>, Failure> {
    if let Some(k) = state.issuer_keys.get(alg.as_str()) {
        return Ok(k);
    }
    let keys = published(state).await?;
    let key = keys
        .into_iter()
        .find(|k| k.alg == alg.as_str() && k.retired_at.is_none())
        .ok_or_else(|| Failure::internal(&format!("no active {} key", alg.as_str())))?;
    let der = state.sealer.open(&key.private_key).map_err(|e| Failure::internal(&e))?;
    let pkcs8 = base64::engine::general_purpose::STANDARD
        .decode(der)
        .map_err(|e| Failure::internal(&e))?;
    let k = Arc::new(IssuerKey(
        signing::Signer::from_pkcs8(alg, &key.id, &pkcs8).map_err(|e| Failure::internal(&e))?,
    ));
    state.issuer_keys.insert(alg.as_str(), k.clone());
    Ok(k)
}

/// `claims` as a compact JWS of type `typ`, signed with the active key of `alg` (on the
/// blocking pool: an RSA signature takes most of a millisecond).
pub async fn sign(state: &AppState, alg: Alg, typ: &'static str, claims: serde_json::Value) -> Result<String, Failure> {
    let key = active(state, alg).await?;
    tokio::task::spawn_blocking(move || key.0.sign(typ, &claims))
        .await
        .map_err(|e| Failure::internal(&e))?
        .map_err(|e| Failure::internal(&e))
}

/// The published keys as a JWKS Roster can check its own tokens with (an
/// `id_token_hint`).
pub async fn own_jwks(state: &AppState) -> Result<roster_oidc::Jwks, Failure> {
    let keys = published(state).await?;
    let doc = serde_json::json!({ "keys": keys.into_iter().map(|k| k.public_jwk).collect::<Vec<_>>() });
    roster_oidc::Jwks::parse(doc.to_string().as_bytes()).map_err(|e| Failure::internal(&e))
}

/// How long a retired key stays published: longer than any token it signed lives.
pub const OVERLAP_MS: i64 = 24 * 60 * 60 * 1000;

/// A new key of `alg`, its private key sealed, made on the blocking pool (an RSA key
/// takes tens of milliseconds).
async fn make(state: &AppState, alg: Alg) -> Result<SigningKey, Failure> {
    let kid = format!("{}-{}", alg.as_str().to_ascii_lowercase(), new_id().replace('-', ""));
    let id = kid.clone();
    let material = tokio::task::spawn_blocking(move || signing::generate(alg, &id))
        .await
        .map_err(|e| Failure::internal(&e))?
        .map_err(|e| Failure::internal(&e))?;
    let der = base64::engine::general_purpose::STANDARD.encode(&material.private_pkcs8);
    let private_key = state.sealer.seal(&der).map_err(|e| Failure::internal(&e))?;
    Ok(SigningKey {
        id: kid,
        alg: alg.as_str().to_string(),
        private_key,
        public_jwk: material.public_jwk,
        created_at: state.now(),
        retired_at: None,
    })
}

/// The keys to publish, after making the missing active ones.
pub async fn published(state: &AppState) -> Result<Vec<SigningKey>, Failure> {
    let now = state.now();
    let keys = state
        .store
        .read(move |db| Box::pin(async move { signing_keys::published(db, now, OVERLAP_MS).await }))
        .await?;
    let missing: Vec<Alg> = Alg::ALL
        .into_iter()
        .filter(|a| !keys.iter().any(|k| k.alg == a.as_str() && k.retired_at.is_none()))
        .collect();
    if missing.is_empty() {
        return Ok(keys);
    }
    let mut made = Vec::new();
    for alg in missing {
        made.push(make(state, alg).await?);
    }
    let ctx = Ctx::new("system", None, crate::trace::current_trace_id(), now);
    state
        .store
        .write(move |db| {
            Box::pin(async move {
                for key in &made {
                    // Another request or node may have made one meanwhile: keep that.
                    if signing_keys::active(db, &key.alg).await?.is_none() {
                        signing_keys::add(db, &ctx, key).await?;
                    }
                }
                signing_keys::published(db, now, OVERLAP_MS).await
            })
        })
        .await
        .map_err(Failure::from)
}

/// Retires every active key and makes new ones; returns the new keys' ids and the
/// retired ones'.
pub async fn rotate(state: &AppState, ctx: Ctx) -> Result<(Vec<String>, Vec<String>), Failure> {
    let mut made = Vec::new();
    for alg in Alg::ALL {
        made.push(make(state, alg).await?);
    }
    let rotated = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let mut retired = Vec::new();
                let mut added = Vec::new();
                for key in &made {
                    if let Some(old) = signing_keys::retire(db, &ctx, &key.alg).await? {
                        retired.push(old);
                    }
                    signing_keys::add(db, &ctx, key).await?;
                    added.push(key.id.clone());
                }
                Ok((added, retired))
            })
        })
        .await
        .map_err(|e: StoreError| Failure::from(e))?;
    state.issuer_keys.invalidate_all();
    Ok(rotated)
}
