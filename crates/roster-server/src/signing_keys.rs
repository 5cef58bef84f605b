//! The keys Roster signs the tokens it issues with (its OpenID Provider): made on first
//! use, one per algorithm, private keys sealed at rest; a rotation makes new ones and
//! keeps the retired ones published for [`OVERLAP_MS`].

use crate::error::Failure;
use crate::state::AppState;
use base64::Engine;
use roster_oidc::signing::{self, Alg};
use roster_store::signing_keys::{self, SigningKey};
use roster_store::{new_id, Ctx, StoreError};

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
    state
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
        .map_err(|e: StoreError| Failure::from(e))
}
