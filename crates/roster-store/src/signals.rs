//! Telling every node on one PostgreSQL database that something it may hold in memory
//! changed, so that it forgets it at once rather than when its copy expires.
//!
//! A write calls [`auth_changed`] inside its transaction: PostgreSQL delivers the
//! notification to every listening connection when, and only if, that transaction
//! commits. Each node listens through [`Signals`], and says with [`auth_cleared`] when
//! it has acted on a change, so that the node that made it can wait for every node
//! ([`listeners`] counts them). SQLite serves one node, whose
//! in-memory copies its own handlers clear: nothing to send there.

use crate::db::{self, Conn};
use crate::{Backend, Ctx, StoreError};
use sqlx::postgres::{PgListener, PgPool};

/// The channel for changes to what authenticates a request: SCIM tokens and the
/// connections they belong to.
const AUTH_CHANGED: &str = "roster_auth_changed";
/// The channel on which each node says it has acted on an [`AUTH_CHANGED`]
/// notification (cleared what it held), under the change's trace id.
const AUTH_CLEARED: &str = "roster_auth_cleared";
/// The `application_name` of the connections that listen, by which the nodes
/// listening are counted ([`listeners`]).
pub(crate) const LISTENER_NAME: &str = "roster-listen";

/// Tells every node, once this transaction commits, that a SCIM token or a connection
/// changed. The notification carries the change's trace id, so that the node that made
/// it can tell its own notification from the others'.
pub(crate) async fn auth_changed(conn: &mut Conn, ctx: &Ctx) -> Result<(), StoreError> {
    notify(conn, AUTH_CHANGED, &ctx.trace_id).await
}

/// Tells the node that made the change `trace_id` (and every other) that this node has
/// acted on it. Sent on its own, outside any transaction.
pub async fn auth_cleared(conn: &mut Conn, trace_id: &str) -> Result<(), StoreError> {
    notify(conn, AUTH_CLEARED, trace_id).await
}

/// `payload` on `channel` to every listening node (PostgreSQL; nothing on SQLite).
async fn notify(conn: &mut Conn, channel: &str, payload: &str) -> Result<(), StoreError> {
    if conn.backend() == Backend::Postgres {
        db::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// How many nodes listen on this database now (their listening connections); 0 on
/// SQLite.
pub async fn listeners(conn: &mut Conn) -> Result<i64, StoreError> {
    if conn.backend() != Backend::Postgres {
        return Ok(0);
    }
    db::query_scalar::<i64>(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
    )
    .bind(LISTENER_NAME)
    .fetch_one(conn)
    .await
}

/// What a node hears from the others.
pub struct Signals {
    listener: PgListener,
}

/// What [`Signals::next`] heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// Some node changed a SCIM token or a connection, under this trace id.
    AuthChanged(String),
    /// Some node has acted on the change with this trace id ([`auth_cleared`]).
    AuthCleared(String),
    /// The listening connection broke: notifications sent from now until a new
    /// [`Signals`] listens are missed.
    Lost,
}

impl Signals {
    pub(crate) async fn listen(pool: &PgPool) -> Result<Self, StoreError> {
        let mut listener = PgListener::connect_with(pool).await?;
        // Notifications never fill memory if this node falls behind: PostgreSQL's own
        // queue holds them, and a slow listener only delays its own clearing.
        listener.listen_all([AUTH_CHANGED, AUTH_CLEARED]).await?;
        Ok(Self { listener })
    }

    /// Waits for the next notification.
    pub async fn next(&mut self) -> Result<Heard, StoreError> {
        Ok(match self.listener.try_recv().await? {
            Some(n) if n.channel() == AUTH_CLEARED => Heard::AuthCleared(n.payload().to_string()),
            Some(n) => Heard::AuthChanged(n.payload().to_string()),
            None => Heard::Lost,
        })
    }
}
