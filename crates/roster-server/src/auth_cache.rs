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
//!
//! While a node cannot hear the others (its listening connection broke), it caches
//! nothing: every SCIM request reads its token from the database.

use moka::sync::Cache;
use roster_store::connections::Connection;
use roster_store::signals::Heard;
use roster_store::Store;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const TTL: Duration = Duration::from_secs(1);
const MAX_ENTRIES: u64 = 10_000;
/// How long a change waits to hear its own notification before answering anyway.
const ECHO_WAIT: Duration = Duration::from_secs(2);

pub struct ScimAuthCache {
    /// Token hash → (token id, connection).
    entries: Cache<String, (String, Arc<Connection>)>,
    /// Whether entries may be kept: false while this node cannot hear the others.
    trusted: AtomicBool,
    /// Counts the notifications heard, for [`ScimAuthCache::changed`] to wait on.
    heard: watch::Sender<u64>,
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
            heard: watch::Sender::new(0),
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

    pub fn put(&self, key: String, token_id: String, connection: Arc<Connection>) {
        if self.trusted.load(Ordering::Acquire) {
            self.entries.insert(key, (token_id, connection));
        }
    }

    /// Forget everything: a token was revoked or a connection changed. Reads see it at
    /// once.
    pub fn clear(&self) {
        self.entries.invalidate_all();
    }

    /// Runs `change` (a write that revokes a token or changes a connection), then
    /// clears this node's cache and, when other nodes may share the database, waits
    /// until this node heard the change's notification, which the others hear at the
    /// same moment.
    pub async fn changed<T, E>(&self, change: impl std::future::Future<Output = Result<T, E>>) -> Result<T, E> {
        let mut heard = self.heard.subscribe();
        heard.borrow_and_update();
        let result = change.await;
        self.clear();
        let listening = result.is_ok() && self.shared && self.trusted.load(Ordering::Acquire);
        if listening && tokio::time::timeout(ECHO_WAIT, heard.changed()).await.is_err() {
            tracing::warn!("a change to SCIM authentication was not heard back from the database in time");
        }
        result
    }

    fn heard(&self) {
        self.clear();
        self.heard.send_modify(|n| *n = n.wrapping_add(1));
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
                Ok(Heard::AuthChanged) => cache.heard(),
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
