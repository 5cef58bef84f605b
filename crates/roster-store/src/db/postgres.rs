//! The PostgreSQL connections this process keeps, lent to one piece of work at a time
//! (a read, or a batch of writes on a lane).
//!
//! sqlx's pool cannot tell whether the work on a connection it gets back ended or was
//! dropped half-way, so it tests every connection coming back with a round trip to the
//! server, in a task of its own: one read cost two round trips and a task. Here the
//! borrower says how its work ended:
//!
//! - [`Lease::keep`]: it ended and left the connection as it found it, which goes back
//!   to be lent again, the most recently returned first;
//! - [`Lease::discard`]: it failed on the connection itself, or left it inside a failed
//!   transaction: closed at once;
//! - neither (its future was dropped half-way, as when a request is cut off): its
//!   statement may still be running. It is waited for, up to [`DRAIN_TIMEOUT`], before
//!   the connection is closed, and the connection's place is not lent meanwhile, so that
//!   PostgreSQL never holds more sessions for this set than its size.
//!
//! Connections unused for [`IDLE_TIMEOUT`] or older than [`MAX_LIFETIME`] are closed
//! whenever a connection is taken or given back.

use crate::StoreError;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgDatabaseError, PgSeverity};
use sqlx::{ConnectOptions as _, Connection as _};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long work waits for a connection, opening one included, before it is answered
/// 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection is closed after this long, so that the server side of it (its caches,
/// its memory) does not grow without end.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// A connection unused this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How long the statement of work dropped half-way is waited for before its connection
/// is closed anyway.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Prepared statements kept per PostgreSQL connection: every statement the store runs
/// on a hot path, with room for the SCIM filters' shapes.
///
/// PostgreSQL keeps a generic plan for a prepared statement that runs often
/// (`plan_cache_mode = auto`). Planning each run afresh (`force_custom_plan`) cost more
/// than the run itself: 336 µs against 159 µs per `userName eq` lookup. A plan made
/// while a table was still empty is made again when autovacuum next analyzes the table,
/// which PostgreSQL does soon after it starts to fill.
pub(crate) const PG_STATEMENT_CACHE: usize = 512;

/// Most writes one PostgreSQL transaction carries: one. Measured on the Okta-like SCIM
/// mix (`bench/okta.sh`, 2026-12-07), batches lose on PostgreSQL:
/// - one batch at a time (up to 64 writes, one commit) serializes every statement's round
///   trip, and PostgreSQL works on one core: 607–718 operations/s against 1,015–1,122
///   with eight single writes at once;
/// - several batches at once hold their row locks until they commit and lock each other
///   out in a cycle (a create and a Group PATCH in one, the reverse in the other), which
///   PostgreSQL breaks only after `deadlock_timeout`: p99 above a second, some writes
///   answered 503.
///
/// PostgreSQL shares a log flush among the commits that arrive together by itself.
pub const PG_BATCH: usize = 1;

/// Writes (or batches) in flight at once on PostgreSQL, per node, each on a connection
/// of the writer's own.
pub const PG_WRITE_LANES: usize = 8;

/// Read connections to PostgreSQL for a node with `cores` cores: a read mostly waits on
/// the network and the database, so a few per core keep the cores busy.
pub(crate) fn pg_readers(cores: usize) -> u32 {
    u32::try_from((cores * 4).clamp(4, 32)).unwrap_or(32)
}

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

/// How the work on a lent connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Not said: the work stopped half-way.
    Pending,
    Keep,
    Discard,
}

/// A connection lent to one piece of work (see the module's documentation).
pub struct Lease {
    conn: Option<PgConnection>,
    opened: Instant,
    outcome: Outcome,
    shared: Arc<Shared>,
    permit: Option<OwnedSemaphorePermit>,
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
        let deadline = tokio::time::Instant::now() + ACQUIRE_TIMEOUT;
        let permit = match tokio::time::timeout_at(deadline, shared.permits.clone().acquire_owned()).await {
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
                let conn = shared.connect(deadline).await?;
                shared.open.fetch_add(1, Ordering::Relaxed);
                (conn, Instant::now())
            }
        };
        Ok(Lease {
            conn: Some(conn),
            opened,
            outcome: Outcome::Pending,
            shared: shared.clone(),
            permit: Some(permit),
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
        let idle = {
            let mut idle = self.shared.idle.lock().unwrap_or_else(PoisonError::into_inner);
            // Under the lock: a connection coming back sees either the set open and is
            // closed here, or the set closed and closes itself.
            self.shared.permits.close();
            std::mem::take(&mut *idle)
        };
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
    /// A new connection, tried again while the server refuses it for a reason that
    /// passes (it is starting, or restarting), until `deadline`.
    async fn connect(&self, deadline: tokio::time::Instant) -> Result<PgConnection, StoreError> {
        let mut pause = Duration::from_millis(20);
        loop {
            let failed = match tokio::time::timeout_at(deadline, self.options.connect()).await {
                Ok(Ok(conn)) => return Ok(conn),
                Ok(Err(e)) => StoreError::from(e),
                Err(_) => return Err(StoreError::Unavailable("timed out connecting to the database".into())),
            };
            if !matches!(failed, StoreError::Unavailable(_)) || tokio::time::Instant::now() + pause >= deadline {
                return Err(failed);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// The most recently returned connection, after closing those gone stale.
    fn take_idle(&self) -> Option<Idle> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        self.close_stale(&mut idle);
        idle.pop()
    }

    /// Back among the idle, unless the set is closed or the connection too old.
    fn give_back(&self, conn: PgConnection, opened: Instant) {
        let now = Instant::now();
        let idle = Idle {
            conn,
            opened,
            since: now,
        };
        let mut all = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if self.permits.is_closed() || !idle.fresh(now) {
            drop(all);
            self.forget(idle.conn);
            return;
        }
        all.push(idle);
        self.close_stale(&mut all);
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

    /// Closes `conn`: dropping the socket ends the session, and PostgreSQL rolls back
    /// whatever it had open.
    fn forget(&self, conn: PgConnection) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        drop(conn);
    }
}

impl Lease {
    /// The work on this connection ended and left it as it found it: it may be lent
    /// again.
    pub(crate) fn keep(&mut self) {
        self.outcome = Outcome::Keep;
    }

    /// The work failed on the connection itself or left it inside a transaction: it is
    /// closed.
    pub(crate) fn discard(&mut self) {
        self.outcome = Outcome::Discard;
    }

    /// The work's connection; `None` only once the lease has been given back.
    pub(crate) fn conn(&mut self) -> Option<&mut PgConnection> {
        self.conn.as_mut()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else { return };
        match self.outcome {
            Outcome::Keep => self.shared.give_back(conn, self.opened),
            Outcome::Discard => self.shared.forget(conn),
            Outcome::Pending => {
                let (shared, permit) = (self.shared.clone(), self.permit.take());
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    return shared.forget(conn);
                };
                runtime.spawn(async move {
                    // The place stays taken until the statement ended or the wait did,
                    // and the session is told to end.
                    let _ = tokio::time::timeout(DRAIN_TIMEOUT, conn.ping()).await;
                    let _ = tokio::time::timeout(DRAIN_TIMEOUT, conn.close()).await;
                    shared.open.fetch_sub(1, Ordering::Relaxed);
                    drop(permit);
                });
            }
        }
    }
}

/// Whether a connection whose work ended with `e` can serve other work: not when the
/// connection itself failed, the server ended the session (a FATAL error), or the
/// connection's state is unknown.
pub(crate) fn usable_after(e: &StoreError) -> bool {
    match e {
        StoreError::Unavailable(_) | StoreError::InDoubt(_) | StoreError::Closed => false,
        StoreError::Database(sqlx::Error::Database(db)) => db
            .try_downcast_ref::<PgDatabaseError>()
            .is_none_or(|pg| !matches!(pg.severity(), PgSeverity::Fatal | PgSeverity::Panic)),
        StoreError::Database(e) => matches!(
            e,
            sqlx::Error::RowNotFound
                | sqlx::Error::ColumnNotFound(_)
                | sqlx::Error::ColumnDecode { .. }
                | sqlx::Error::ColumnIndexOutOfBounds { .. }
                | sqlx::Error::Decode(_)
                | sqlx::Error::TypeNotFound { .. }
        ),
        _ => true,
    }
}
