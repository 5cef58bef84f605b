//! A short-lived cache of SCIM token → connection, so that a SCIM request does not read
//! the token and the connection's settings from the database every time.
//!
//! Entries live one second at most. Revoking a token or changing or deleting a
//! connection clears it at once on every node:
//! - on this node, the handler that made the change clears it;
//! - nodes sharing a PostgreSQL database hear of the change from the database when it
//!   commits ([`follow`]), and clear theirs. The handler waits until this node has
//!   heard its own notification before it answers: by then PostgreSQL has handed it to
//!   every listening node.
//! - A token read from the database while the cache was being cleared is not kept.
//!
//! Once a node notices that it cannot hear the others (its listening connection broke),
//! it caches nothing: every SCIM request reads its token from the database.

use moka::sync::Cache;
use roster_store::connections::Connection;
use roster_store::signals::Heard;
use roster_store::Store;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

const TTL: Duration = Duration::from_secs(1);
const MAX_ENTRIES: u64 = 10_000;
/// How long a change waits to hear its own notification before answering anyway.
const ECHO_WAIT: Duration = Duration::from_secs(2);

pub struct ScimAuthCache {
    /// Token hash → (token id, connection).
    entries: Cache<String, (String, Arc<Connection>)>,
    /// Whether entries may be kept: false while this node cannot hear the others.
    trusted: AtomicBool,
    /// Counts the clearings: an entry read from the database before one is not kept.
    cleared: AtomicU64,
    /// The trace ids of the changes heard, for [`ScimAuthCache::changed`] to wait on.
    heard: broadcast::Sender<String>,
    /// Whether another node may share the database (PostgreSQL).
    shared: bool,
}

impl ScimAuthCache {
    /// A cache for a node whose database other nodes may share (`shared`: PostgreSQL).
    /// There it keeps nothing until [`follow`] hears the others.
    pub fn new(shared: bool) -> Self {
        Self {
            entries: Cache::builder().max_capacity(MAX_ENTRIES).time_to_live(TTL).build(),
            trusted: AtomicBool::new(!shared),
            cleared: AtomicU64::new(0),
            heard: broadcast::Sender::new(64),
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
    /// database, waits until this node heard the change's own notification: PostgreSQL
    /// hands it to every listening node at the same time.
    pub async fn changed<T, E>(
        &self,
        trace_id: &str,
        change: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let mut heard = self.heard.subscribe();
        let result = change.await;
        self.clear();
        let listening = result.is_ok() && self.shared && self.trusted.load(Ordering::Acquire);
        if listening {
            let own = async {
                loop {
                    match heard.recv().await {
                        Ok(t) if t == trace_id => break,
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => break,
                    }
                }
            };
            if tokio::time::timeout(ECHO_WAIT, own).await.is_err() {
                tracing::warn!("a change to SCIM authentication was not heard back from the database in time");
            }
        }
        result
    }

    fn heard(&self, trace_id: String) {
        self.clear();
        // No one waiting is no error.
        let _ = self.heard.send(trace_id);
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
                Ok(Heard::AuthChanged(trace_id)) => cache.heard(trace_id),
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
