//! Telling every node on one PostgreSQL database that something it may hold in memory
//! changed, so that it forgets it at once rather than when its copy expires.
//!
//! A write calls [`auth_changed`] inside its transaction: PostgreSQL delivers the
//! notification to every listening connection when, and only if, that transaction
//! commits. Each node listens through [`Signals`]. SQLite serves one node, whose
//! in-memory copies its own handlers clear: nothing to send there.

use crate::db::{self, Conn};
use crate::{Backend, Ctx, StoreError};
use sqlx::postgres::{PgListener, PgPool};

/// The channel for changes to what authenticates a request: SCIM tokens and the
/// connections they belong to.
const AUTH_CHANGED: &str = "roster_auth_changed";

/// Tells every node, once this transaction commits, that a SCIM token or a connection
/// changed. The notification carries the change's trace id, so that the node that made
/// it can tell its own notification from the others'.
pub(crate) async fn auth_changed(conn: &mut Conn, ctx: &Ctx) -> Result<(), StoreError> {
    if conn.backend() == Backend::Postgres {
        db::query("SELECT pg_notify($1, $2)")
            .bind(AUTH_CHANGED)
            .bind(&ctx.trace_id)
            .execute(conn)
            .await?;
    }
    Ok(())
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
    /// The listening connection broke: notifications sent from now until a new
    /// [`Signals`] listens are missed.
    Lost,
}

impl Signals {
    pub(crate) async fn listen(pool: &PgPool) -> Result<Self, StoreError> {
        let mut listener = PgListener::connect_with(pool).await?;
        // Notifications never fill memory if this node falls behind: PostgreSQL's own
        // queue holds them, and a slow listener only delays its own clearing.
        listener.listen(AUTH_CHANGED).await?;
        Ok(Self { listener })
    }

    /// Waits for the next notification.
    pub async fn next(&mut self) -> Result<Heard, StoreError> {
        Ok(match self.listener.try_recv().await? {
            Some(n) => Heard::AuthChanged(n.payload().to_string()),
            None => Heard::Lost,
        })
    }
}
