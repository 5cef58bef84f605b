//! A short-lived cache of SCIM token → connection, so that a SCIM request does not read
//! the token and the connection's settings from the database every time.
//!
//! Entries live one second at most. Revoking a token or changing or deleting a
//! connection clears the cache on this node at once; other nodes sharing a PostgreSQL
//! database see the change within that second.

use roster_store::connections::Connection;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(1);
const MAX_ENTRIES: usize = 10_000;

/// When it was cached, the token id, the connection.
type Entry = (Instant, String, Arc<Connection>);

#[derive(Default)]
pub struct ScimAuthCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl ScimAuthCache {
    /// (token id, connection) for the token whose hash is `key`, if cached and fresh.
    pub fn get(&self, key: &str) -> Option<(String, Arc<Connection>)> {
        let entries = self.entries.lock().ok()?;
        let (at, token_id, connection) = entries.get(key)?;
        (at.elapsed() < TTL).then(|| (token_id.clone(), connection.clone()))
    }

    pub fn put(&self, key: String, token_id: String, connection: Arc<Connection>) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.retain(|_, (at, _, _)| at.elapsed() < TTL);
                if entries.len() >= MAX_ENTRIES {
                    entries.clear();
                }
            }
            entries.insert(key, (Instant::now(), token_id, connection));
        }
    }

    /// Forget everything: a token was revoked or a connection changed.
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}
