//! A short-lived cache of SCIM token → connection, so that a SCIM request does not read
//! the token and the connection's settings from the database every time.
//!
//! Entries live one second at most. Revoking a token or changing or deleting a
//! connection clears it at once on every node:
//! - on this node, the handler that made the change clears it;
//! - nodes sharing a PostgreSQL database hear of the change from the database when it
//!   commits ([`follow`]), clear theirs, and say so on the database. The handler
//!   answers once every node listening there (this one included) has said so.
//! - A token read from the database while the cache was being cleared is not kept.
//!
//! Once a node notices that it cannot hear the others (its listening connection broke),
//! it caches nothing: every SCIM request reads its token from the database.

use moka::sync::Cache;
use roster_store::connections::Connection;
use roster_store::signals::{self, Heard};
use roster_store::Store;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

const TTL: Duration = Duration::from_secs(1);
const MAX_ENTRIES: u64 = 10_000;
/// How long a change waits for every node to act on it before answering anyway.
const ACK_WAIT: Duration = Duration::from_secs(2);

pub struct ScimAuthCache {
    /// Token hash → (token id, connection).
    entries: Cache<String, (String, Arc<Connection>)>,
    /// Whether entries may be kept: false while this node cannot hear the others.
    trusted: AtomicBool,
    /// Counts the clearings: an entry read from the database before one is not kept.
    cleared: AtomicU64,
    /// The trace ids of the changes some node has acted on, for
    /// [`ScimAuthCache::changed`] to count.
    cleared_by: broadcast::Sender<String>,
    /// To count the nodes listening.
    store: Store,
    /// Whether another node may share the database (PostgreSQL).
    shared: bool,
}

impl ScimAuthCache {
    /// A cache for a node on `store`, whose database other nodes may share (`shared`:
    /// PostgreSQL). There it keeps nothing until [`follow`] hears the others.
    pub fn new(store: Store, shared: bool) -> Self {
        Self {
            entries: Cache::builder().max_capacity(MAX_ENTRIES).time_to_live(TTL).build(),
            trusted: AtomicBool::new(!shared),
            cleared: AtomicU64::new(0),
            cleared_by: broadcast::Sender::new(256),
            store,
            shared,
        }
    }

    /// (token id, connection) for the token whose hash is `key`, if cached and fresh.
    pub fn get(&self, key: &str) -> Option<(String, Arc<Connection>)> {
        if !self.trusted.load(Ordering::Acquire) {
            return None;
        }
        self.entries.get(key)
    }

    /// Where the cache stands, to be taken before the database is read for
    /// [`ScimAuthCache::put`].
    pub fn version(&self) -> u64 {
        self.cleared.load(Ordering::Acquire)
    }

    /// Keeps what was read from the database at `version`, unless the cache was
    /// cleared since: a token revoked between the read and now is not kept.
    pub fn put(&self, version: u64, key: String, token_id: String, connection: Arc<Connection>) {
        if !self.trusted.load(Ordering::Acquire) {
            return;
        }
        self.entries.insert(key.clone(), (token_id, connection));
        // A clearing that came before the insert counted first; one after it removes it.
        if self.version() != version {
            self.entries.invalidate(&key);
        }
    }

    /// Forget everything: a token was revoked or a connection changed. Reads see it at
    /// once.
    pub fn clear(&self) {
        self.cleared.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }

    /// Runs `change` (a write under `trace_id` that revokes a token or changes a
    /// connection), then clears this node's cache and, when other nodes may share the
    /// database, waits until every node listening there has cleared its own.
    pub async fn changed<T, E>(
        &self,
        trace_id: &str,
        change: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let mut cleared_by = self.cleared_by.subscribe();
        let result = change.await;
        self.clear();
        let listening = result.is_ok() && self.shared && self.trusted.load(Ordering::Acquire);
        if listening {
            // The nodes listening now, this one among them; at least this one.
            let nodes = self
                .store
                .read(|db| Box::pin(async move { signals::listeners(db).await }))
                .await
                .unwrap_or(1)
                .max(1);
            let all = async {
                let mut acted = 0;
                while acted < nodes {
                    match cleared_by.recv().await {
                        Ok(t) if t == trace_id => acted += 1,
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => break,
                    }
                }
            };
            if tokio::time::timeout(ACK_WAIT, all).await.is_err() {
                tracing::warn!(
                    nodes,
                    "not every node said in time that it acted on a change to SCIM authentication"
                );
            }
        }
        result
    }

    fn acted(&self, trace_id: String) {
        // No one waiting is no error.
        let _ = self.cleared_by.send(trace_id);
    }

    fn trust(&self, trusted: bool) {
        self.clear();
        self.trusted.store(trusted, Ordering::Release);
    }
}

/// Listens for the other nodes' changes for as long as the server runs (PostgreSQL;
/// returns at once on SQLite). When the listening connection breaks, the cache is off
/// until a new connection listens again (tried every second): notifications sent
/// meanwhile are lost.
pub async fn follow(store: Store, cache: Arc<ScimAuthCache>) {
    loop {
        let mut signals = match store.signals().await {
            Ok(Some(signals)) => signals,
            Ok(None) => return,
            Err(e) => {
                cache.trust(false);
                tracing::warn!(error = %e, "cannot listen for other nodes' changes; SCIM tokens are read every time");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        cache.trust(true);
        loop {
            match signals.next().await {
                Ok(Heard::AuthChanged(trace_id)) => {
                    cache.clear();
                    // Said on a connection of the readers': the listening one only
                    // listens.
                    let said = store
                        .read(|db| Box::pin(async move { signals::auth_cleared(db, &trace_id).await }))
                        .await;
                    if let Err(e) = said {
                        tracing::warn!(error = %e, "cannot tell the other nodes that a change was acted on");
                    }
                }
                Ok(Heard::AuthCleared(trace_id)) => cache.acted(trace_id),
                Ok(Heard::Lost) | Err(_) => {
                    cache.trust(false);
                    tracing::warn!(
                        "lost the connection that hears other nodes' changes; SCIM tokens are read every time"
                    );
                    break;
                }
            }
        }
    }
}
