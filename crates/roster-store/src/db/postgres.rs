//! The PostgreSQL connections this process keeps, lent to one piece of work at a time
//! (a read, or a batch of writes on a lane).
//!
//! sqlx's pool cannot tell whether the work on a connection it gets back ended or was
//! dropped half-way, so it tests every connection coming back with a round trip to the
//! server, in a task of its own: one read cost two round trips and a task. Here the
//! borrower says when its work ended ([`Lease::keep`]): only such a connection goes back
//! to be lent again. One whose work was dropped half-way, failed on the connection
//! itself, or is older than [`MAX_LIFETIME`] is closed, and a new one opened when next
//! needed. The most recently returned connection is lent first, and one left unused for
//! [`IDLE_TIMEOUT`] is closed.

use crate::StoreError;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions as _, Connection as _};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long work waits for a connection before it is answered 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection is closed after this long, so that the server side of it (its caches,
/// its memory) does not grow without end.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// A connection unused this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// At most `size` connections to one database, opened on demand.
#[derive(Clone)]
pub(crate) struct PgConnections {
    shared: Arc<Shared>,
}

struct Shared {
    options: PgConnectOptions,
    idle: Mutex<Vec<Idle>>,
    permits: Arc<Semaphore>,
    open: AtomicU32,
}

struct Idle {
    conn: PgConnection,
    opened: Instant,
    since: Instant,
}

/// A connection lent to one piece of work. Dropped without [`Lease::keep`], it is closed.
pub struct Lease {
    conn: Option<PgConnection>,
    opened: Instant,
    keep: bool,
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
}

impl PgConnections {
    pub(crate) fn new(options: PgConnectOptions, size: u32) -> Self {
        Self {
            shared: Arc::new(Shared {
                options,
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(size.max(1) as usize)),
                open: AtomicU32::new(0),
            }),
        }
    }

    /// A connection: one that was returned, or a new one. Waits while all are lent.
    pub(crate) async fn acquire(&self) -> Result<Lease, StoreError> {
        let shared = &self.shared;
        let permit = match tokio::time::timeout(ACQUIRE_TIMEOUT, shared.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(StoreError::Closed),
            Err(_) => {
                return Err(StoreError::Unavailable(
                    "timed out waiting for a connection to the database".into(),
                ))
            }
        };
        let (conn, opened) = match shared.take_idle() {
            Some(idle) => (idle.conn, idle.opened),
            None => {
                let conn = shared.options.connect().await?;
                shared.open.fetch_add(1, Ordering::Relaxed);
                (conn, Instant::now())
            }
        };
        Ok(Lease {
            conn: Some(conn),
            opened,
            keep: false,
            shared: shared.clone(),
            _permit: permit,
        })
    }

    /// (connections open, of which idle).
    pub(crate) fn stats(&self) -> (u32, usize) {
        let idle = self.shared.idle.lock().unwrap_or_else(PoisonError::into_inner).len();
        (self.shared.open.load(Ordering::Relaxed), idle)
    }

    /// Lends no more, and closes the idle connections; those lent are closed when
    /// they come back.
    pub(crate) async fn close(&self) {
        self.shared.permits.close();
        let idle = std::mem::take(&mut *self.shared.idle.lock().unwrap_or_else(PoisonError::into_inner));
        for i in idle {
            self.shared.open.fetch_sub(1, Ordering::Relaxed);
            let _ = i.conn.close().await;
        }
    }
}

impl Idle {
    fn fresh(&self, now: Instant) -> bool {
        now.duration_since(self.since) < IDLE_TIMEOUT && now.duration_since(self.opened) < MAX_LIFETIME
    }
}

impl Shared {
    /// The most recently returned connection, after closing those gone stale.
    fn take_idle(&self) -> Option<Idle> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        self.close_stale(&mut idle);
        idle.pop()
    }

    /// Closes the idle connections unused for [`IDLE_TIMEOUT`] or older than
    /// [`MAX_LIFETIME`] (at most a few dozen to look at).
    fn close_stale(&self, idle: &mut Vec<Idle>) {
        let now = Instant::now();
        let before = idle.len();
        idle.retain(|i| i.fresh(now));
        let closed = u32::try_from(before - idle.len()).unwrap_or(0);
        self.open.fetch_sub(closed, Ordering::Relaxed);
    }
}

impl Lease {
    /// The work on this connection ended: it may be lent again.
    pub(crate) fn keep(&mut self) {
        self.keep = true;
    }

    /// The work's connection; `None` only once the lease has been given back.
    pub(crate) fn conn(&mut self) -> Option<&mut PgConnection> {
        self.conn.as_mut()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        let now = Instant::now();
        let fresh = now.duration_since(self.opened) < MAX_LIFETIME;
        if self.keep && fresh && !self.shared.permits.is_closed() {
            let idle = Idle {
                conn,
                opened: self.opened,
                since: now,
            };
            let mut all = self.shared.idle.lock().unwrap_or_else(PoisonError::into_inner);
            all.push(idle);
            self.shared.close_stale(&mut all);
        } else {
            // Dropping the socket ends the session; PostgreSQL rolls back whatever it
            // had open.
            self.shared.open.fetch_sub(1, Ordering::Relaxed);
            drop(conn);
        }
    }
}

/// Whether a connection whose work ended with `e` can serve other work: not when the
/// connection itself failed or its state is unknown.
pub(crate) fn usable_after(e: &StoreError) -> bool {
    match e {
        StoreError::Unavailable(_) | StoreError::InDoubt(_) | StoreError::Closed => false,
        StoreError::Database(e) => matches!(
            e,
            sqlx::Error::Database(_)
                | sqlx::Error::RowNotFound
                | sqlx::Error::ColumnNotFound(_)
                | sqlx::Error::ColumnDecode { .. }
                | sqlx::Error::ColumnIndexOutOfBounds { .. }
                | sqlx::Error::Decode(_)
                | sqlx::Error::TypeNotFound { .. }
        ),
        _ => true,
    }
}
