//! The write path. Every write is a closure over a connection that is already inside a
//! transaction; [`Writer::run`] returns only after that transaction committed.
//!
//! SQLite allows one writer at a time, and with `synchronous=FULL` every commit is an
//! fsync. Rather than letting request tasks queue on the file lock, one task owns a
//! dedicated connection and group-commits: it takes every write waiting in its queue (up
//! to `max_batch`), runs them in one transaction, then commits once. Answers go out only
//! after the `COMMIT` returns, so a 2xx always means "on disk". `max_batch = 1` gives the
//! plain commit-per-write behaviour, which the write benchmark compares against.
//!
//! A failing write must be rolled back alone. There are two ways to a batch:
//! - **With savepoints.** Each write runs in its own `SAVEPOINT`; a failing one rolls
//!   back to it and alone gets its error. A savepoint is not free: SQLite first copies
//!   every page a write changes into its sub-journal, about a tenth of the instructions
//!   of a SCIM create.
//! - **Plainly.** When every write of the batch is *repeatable* ([`Writer::run_repeatable`]:
//!   work that can be run again from the start, with no effect outside the transaction),
//!   the batch runs without savepoints. If one write fails, the whole transaction is
//!   rolled back and the batch runs again with savepoints, which gives every write the
//!   same answer it would have had. A single write never needs a savepoint.
//!
//! After a plain batch failed, the next [`CAREFUL_BATCHES`] batches go straight to
//! savepoints, so that a client sending failing writes costs everyone at most a few
//! percent, not a second run of every batch.
//!
//! The SQLite writer runs on a thread of its own: its statements run synchronously
//! (see [`crate::db`]) and a commit waits for the disk, neither of which may hold up the
//! threads that serve requests. Writes reach it through a queue and their results come
//! back through a one-shot channel: two hand-offs per write, whatever it does.
//!
//! On PostgreSQL the same loop runs on several connections of its own at once ("lanes",
//! tasks on the server's runtime sharing the queue): a lane takes what is waiting, runs
//! it as one transaction and commits it, while the other lanes take the next. By default
//! each transaction carries one write ([`crate::PG_BATCH`] says why: batches measured
//! slower there), so the lanes are a bounded set of write connections. A transaction
//! that fails to commit (the server went away, it broke a deadlock by cancelling this
//! transaction) answers every write in it with [`StoreError::Unavailable`]: none of
//! them is acknowledged, so none is lost.

use crate::checkpoint::Checkpoints;
use crate::db::{Conn, PgConnections};
use crate::StoreError;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex};

type Once<T> = Box<dyn for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<T, StoreError>> + Send>;
type Again<T> = Box<dyn for<'c> Fn(&'c mut Conn) -> BoxFuture<'c, Result<T, StoreError>> + Send + Sync>;

/// Batches to run with savepoints after a plain batch failed.
pub const CAREFUL_BATCHES: u32 = 16;

/// A write's work: run at most once, or repeatable from the start.
enum Work<T> {
    Once(Option<Once<T>>),
    Again(Again<T>),
}

/// A queued write with its result slot, type-erased so one queue carries them all.
trait Job: Send {
    /// Runs the work; returns whether it succeeded.
    fn run<'a>(&'a mut self, conn: &'a mut Conn) -> BoxFuture<'a, bool>;
    /// Whether [`Job::run`] may be called again after a rollback.
    fn repeatable(&self) -> bool;
    /// Delivers the result once the fate of the batch is known.
    fn finish(self: Box<Self>, commit: Result<(), Failed>);
}

struct TypedJob<T> {
    work: Work<T>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T: Send + 'static> Job for TypedJob<T> {
    fn run<'a>(&'a mut self, conn: &'a mut Conn) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let work = async {
                match &mut self.work {
                    Work::Once(work) => match work.take() {
                        Some(work) => crate::audit::journaled(conn, work).await,
                        None => Err(StoreError::Closed),
                    },
                    Work::Again(work) => crate::audit::journaled(conn, |c| work(c)).await,
                }
            };
            // A write that panics fails alone and is rolled back like any failing
            // write; the writer goes on with the others.
            let result = match std::panic::AssertUnwindSafe(work).catch_unwind().await {
                Ok(result) => result,
                Err(_) => Err(StoreError::Misuse("the write panicked")),
            };
            let ok = result.is_ok();
            self.result = Some(result);
            ok
        })
    }

    fn repeatable(&self) -> bool {
        matches!(self.work, Work::Again(_))
    }

    fn finish(self: Box<Self>, commit: Result<(), Failed>) {
        let result = match (self.result, commit) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(v)), Ok(())) => Ok(v),
            (Some(Ok(_)), Err(e)) => Err(e.error()),
            (None, _) => Err(StoreError::Closed),
        };
        // The requester may have gone away (client disconnected); the write stands.
        let _ = self.reply.send(result);
    }
}

#[derive(Debug, Clone, Copy)]
pub enum CommitMode {
    Group { max_batch: usize },
}

/// Why a batch did not commit, given to each of its writes.
#[derive(Debug, Clone)]
pub(crate) struct Failed {
    message: String,
    /// The database was out of reach or cancelled the transaction: retrying may work.
    passing: bool,
    /// The `COMMIT` itself was cut off: the batch may have committed.
    in_doubt: bool,
}

impl Failed {
    fn from(e: StoreError) -> Self {
        Self {
            passing: matches!(e, StoreError::Unavailable(_)),
            in_doubt: false,
            message: e.to_string(),
        }
    }

    /// A failed `COMMIT`: when the database went out of reach during it, the answer
    /// that would have said whether it committed is lost.
    fn at_commit(e: StoreError) -> Self {
        Self {
            in_doubt: matches!(e, StoreError::Unavailable(_)),
            ..Self::from(e)
        }
    }

    fn error(&self) -> StoreError {
        if self.in_doubt {
            StoreError::InDoubt(self.message.clone())
        } else if self.passing {
            StoreError::Unavailable(self.message.clone())
        } else {
            StoreError::Database(sqlx::Error::Protocol(format!("commit failed: {}", self.message)))
        }
    }
}

#[derive(Clone)]
pub struct Writer {
    inner: Arc<Inner>,
}

struct Inner {
    tx: Mutex<Option<mpsc::Sender<Box<dyn Job>>>>,
    /// One per thread or lane, answered when it stopped.
    done: Mutex<Vec<oneshot::Receiver<()>>>,
    /// PostgreSQL: the lanes' connections, closed after them.
    pool: Option<PgConnections>,
}

impl Writer {
    /// A single writer thread owning `conn` (SQLite), with the thread that copies its
    /// log back into the database file.
    pub(crate) fn spawn(conn: Conn, mode: CommitMode, checkpoints: Checkpoints) -> Result<Self, StoreError> {
        let CommitMode::Group { max_batch } = mode;
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>(4096);
        let (finished, done) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Config(format!("cannot start the writer: {e}")))?;
        std::thread::Builder::new()
            .name("roster-writer".into())
            .spawn(move || {
                runtime.block_on(writer_loop(conn, rx, max_batch, checkpoints));
                let _ = finished.send(());
            })
            .map_err(|e| StoreError::Config(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                tx: Mutex::new(Some(tx)),
                done: Mutex::new(vec![done]),
                pool: None,
            }),
        })
    }

    /// `lanes` tasks sharing one queue, each running its batches on a connection of
    /// `pool` (PostgreSQL). Must be called within the server's runtime.
    pub(crate) fn lanes(pool: PgConnections, lanes: usize, max_batch: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>(4096);
        let rx = Arc::new(Mutex::new(rx));
        let mut done = Vec::with_capacity(lanes);
        for _ in 0..lanes {
            let (finished, stopped) = oneshot::channel();
            let (pool, rx) = (pool.clone(), rx.clone());
            tokio::spawn(async move {
                lane_loop(pool, rx, max_batch).await;
                let _ = finished.send(());
            });
            done.push(stopped);
        }
        Self {
            inner: Arc::new(Inner {
                tx: Mutex::new(Some(tx)),
                done: Mutex::new(done),
                pool: Some(pool),
            }),
        }
    }

    /// Runs `f` in a write transaction and answers once that transaction committed; a
    /// failing `f` is rolled back alone.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<T, StoreError>> + Send + 'static,
    {
        Self::queue(&self.inner.tx, Work::Once(Some(Box::new(f)))).await
    }

    /// [`Writer::run`] for work that may run more than once: its transaction may be
    /// rolled back and the work run again from the start, so it must have no effect
    /// outside the transaction. Such writes group-commit without savepoints.
    pub async fn run_repeatable<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> Fn(&'c mut Conn) -> BoxFuture<'c, Result<T, StoreError>> + Send + Sync + 'static,
    {
        Self::queue(&self.inner.tx, Work::Again(Box::new(f))).await
    }

    async fn queue<T: Send + 'static>(
        tx: &Mutex<Option<mpsc::Sender<Box<dyn Job>>>>,
        work: Work<T>,
    ) -> Result<T, StoreError> {
        let sender = tx.lock().await.clone().ok_or(StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(TypedJob {
            work,
            result: None,
            reply,
        });
        sender.send(job).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Stops taking writes, lets the queued ones commit, and waits for the thread or
    /// the lanes.
    pub async fn close(&self) {
        self.inner.tx.lock().await.take();
        let done = std::mem::take(&mut *self.inner.done.lock().await);
        for stopped in done {
            let _ = stopped.await;
        }
        if let Some(pool) = &self.inner.pool {
            pool.close().await;
        }
    }
}

/// A PostgreSQL lane: gathers a batch from the shared queue, then runs and commits it
/// on a connection of its own while the next lane gathers.
async fn lane_loop(pool: PgConnections, rx: Arc<Mutex<mpsc::Receiver<Box<dyn Job>>>>, max_batch: usize) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(max_batch);
    let mut careful = 0u32;
    loop {
        {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { break };
            batch.push(first);
            while batch.len() < max_batch {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        }
        let commit = match pool.acquire().await {
            Ok(lease) => {
                let mut conn = Conn::postgres(lease);
                let commit = run_batch(&mut conn, &mut batch, &mut careful).await;
                // A connection whose batch failed to commit may be broken, or still
                // inside the failed transaction: it is closed, not kept.
                if commit.is_ok() {
                    conn.keep();
                } else {
                    conn.discard();
                }
                commit
            }
            Err(e) => Err(Failed::from(e)),
        };
        if let Err(e) = &commit {
            tracing::error!(error = %e.message, writes = batch.len(), "write batch failed to commit");
        }
        for job in batch.drain(..) {
            job.finish(commit.clone());
        }
    }
}

async fn writer_loop(mut conn: Conn, mut rx: mpsc::Receiver<Box<dyn Job>>, max_batch: usize, checkpoints: Checkpoints) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(max_batch);
    // Batches still to run with savepoints after a plain batch failed.
    let mut careful = 0u32;
    while let Some(first) = rx.recv().await {
        checkpoints.restart_if_due(&mut conn).await;
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let commit = run_batch(&mut conn, &mut batch, &mut careful).await;
        match &commit {
            Ok(()) => checkpoints.committed(),
            Err(e) => tracing::error!(error = %e.message, writes = batch.len(), "write batch failed to commit"),
        }
        for job in batch.drain(..) {
            job.finish(commit.clone());
        }
    }
    // The checkpoint thread stops first. What is left in the log is durable there; the
    // last connection of the store to close copies it back.
    drop(checkpoints);
    drop(conn);
}

async fn run_batch(conn: &mut Conn, batch: &mut [Box<dyn Job>], careful: &mut u32) -> Result<(), Failed> {
    if batch.is_empty() {
        return Ok(());
    }
    let single = batch.len() == 1;
    if single || (*careful == 0 && batch.iter().all(|j| j.repeatable())) {
        match run_plain(conn, batch).await? {
            Plain::Committed => return Ok(()),
            // A single write failed: rolled back, and its result is its error.
            Plain::RolledBack if single => return Ok(()),
            Plain::RolledBack => *careful = CAREFUL_BATCHES,
        }
    } else {
        *careful = careful.saturating_sub(1);
    }
    run_with_savepoints(conn, batch).await
}

enum Plain {
    Committed,
    /// A write failed and the whole transaction was rolled back.
    RolledBack,
}

/// The batch in one transaction without savepoints, rolled back whole at the first
/// write that fails.
async fn run_plain(conn: &mut Conn, batch: &mut [Box<dyn Job>]) -> Result<Plain, Failed> {
    conn.execute_batch(begin(conn)).await.map_err(Failed::from)?;
    for job in batch.iter_mut() {
        if !job.run(conn).await {
            conn.execute_batch("ROLLBACK").await.map_err(Failed::from)?;
            return Ok(Plain::RolledBack);
        }
    }
    match conn.execute_batch("COMMIT").await {
        Ok(_) => Ok(Plain::Committed),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK").await;
            Err(Failed::at_commit(e))
        }
    }
}

/// How a batch's transaction starts. On SQLite, IMMEDIATE takes the write lock up
/// front, so a batch never fails half-way on a lock upgrade.
fn begin(conn: &Conn) -> &'static str {
    match conn.backend() {
        crate::Backend::Sqlite => "BEGIN IMMEDIATE",
        crate::Backend::Postgres => "BEGIN",
    }
}

/// The batch in one transaction, each write in its own savepoint: a failing write is
/// rolled back alone.
async fn run_with_savepoints(conn: &mut Conn, batch: &mut [Box<dyn Job>]) -> Result<(), Failed> {
    // Ending one savepoint and opening the next is one round trip to the connection,
    // as are the first and last.
    let mut step = match conn.backend() {
        crate::Backend::Sqlite => "BEGIN IMMEDIATE; SAVEPOINT w",
        crate::Backend::Postgres => "BEGIN; SAVEPOINT w",
    };
    let n = batch.len();
    for (i, job) in batch.iter_mut().enumerate() {
        if let Err(e) = conn.execute_batch(step).await {
            let _ = conn.execute_batch("ROLLBACK").await;
            return Err(Failed::from(e));
        }
        let ok = job.run(conn).await;
        let last = i + 1 == n;
        step = match (ok, last) {
            (true, false) => "RELEASE w; SAVEPOINT w",
            (false, false) => "ROLLBACK TO w; RELEASE w; SAVEPOINT w",
            (true, true) => "RELEASE w; COMMIT",
            (false, true) => "ROLLBACK TO w; RELEASE w; COMMIT",
        };
    }
    // The last step ends with the COMMIT.
    match conn.execute_batch(step).await {
        Ok(_) => Ok(()),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK").await;
            Err(Failed::at_commit(e))
        }
    }
}
