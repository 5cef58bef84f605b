//! A short-lived cache of SCIM token → connection, so that a SCIM request does not read
//! the token and the connection's settings from the database every time.
//!
//! Entries live one second at most. Revoking a token or changing or deleting a
//! connection clears the cache on this node at once; other nodes sharing a PostgreSQL
//! database see the change within that second.

use moka::sync::Cache;
use roster_store::connections::Connection;
use std::sync::Arc;
use std::time::Duration;

const TTL: Duration = Duration::from_secs(1);
const MAX_ENTRIES: u64 = 10_000;

pub struct ScimAuthCache {
    /// Token hash → (token id, connection).
    entries: Cache<String, (String, Arc<Connection>)>,
}

impl Default for ScimAuthCache {
    fn default() -> Self {
        Self {
            entries: Cache::builder().max_capacity(MAX_ENTRIES).time_to_live(TTL).build(),
        }
    }
}

impl ScimAuthCache {
    /// (token id, connection) for the token whose hash is `key`, if cached and fresh.
    pub fn get(&self, key: &str) -> Option<(String, Arc<Connection>)> {
        self.entries.get(key)
    }

    pub fn put(&self, key: String, token_id: String, connection: Arc<Connection>) {
        self.entries.insert(key, (token_id, connection));
    }

    /// Forget everything: a token was revoked or a connection changed. Reads see it at
    /// once.
    pub fn clear(&self) {
        self.entries.invalidate_all();
    }
}
