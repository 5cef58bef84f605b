//! The write path. Every write is a closure over a connection that is already inside a
//! transaction; [`Writer::run`] returns only after that transaction committed.
//!
//! SQLite allows one writer at a time, and with `synchronous=FULL` every commit is an
//! fsync. Rather than letting request tasks queue on the file lock, one task owns a
//! dedicated connection and group-commits: it takes every write waiting in its queue (up
//! to `max_batch`), runs each in its own `SAVEPOINT` (a failing write rolls back to its
//! savepoint and alone gets its error), then commits once. Answers go out only after
//! the `COMMIT` returns, so a 2xx always means "on disk". `max_batch = 1` gives the plain
//! commit-per-write behaviour, which the write benchmark compares against.
//!
//! The SQLite writer runs on a thread of its own: its statements run synchronously
//! (see [`crate::db`]) and a commit waits for the disk, neither of which may hold up the
//! threads that serve requests. Writes reach it through a queue and their results come
//! back through a one-shot channel: two hand-offs per write, whatever it does.
//!
//! PostgreSQL takes concurrent writers itself, so there each write is a pooled
//! transaction of its own.

use crate::db::Conn;
use crate::StoreError;
use futures::future::BoxFuture;
use sqlx::AnyPool;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex};

type Work<T> = Box<dyn for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<T, StoreError>> + Send>;

/// A queued write with its result slot, type-erased so one queue carries them all.
trait Job: Send {
    /// Runs the work; returns whether it succeeded (its savepoint is kept).
    fn run<'a>(&'a mut self, conn: &'a mut Conn) -> BoxFuture<'a, bool>;
    /// Delivers the result once the fate of the batch is known.
    fn finish(self: Box<Self>, commit: Result<(), String>);
}

struct TypedJob<T> {
    work: Option<Work<T>>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T: Send + 'static> Job for TypedJob<T> {
    fn run<'a>(&'a mut self, conn: &'a mut Conn) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let Some(work) = self.work.take() else {
                return false;
            };
            let result = crate::audit::journaled(conn, work).await;
            let ok = result.is_ok();
            self.result = Some(result);
            ok
        })
    }

    fn finish(self: Box<Self>, commit: Result<(), String>) {
        let result = match (self.result, commit) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(v)), Ok(())) => Ok(v),
            (Some(Ok(_)), Err(e)) => Err(StoreError::Database(sqlx::Error::Protocol(format!(
                "commit failed: {e}"
            )))),
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

#[derive(Clone)]
pub struct Writer {
    inner: Arc<Inner>,
}

enum Inner {
    Queue {
        tx: Mutex<Option<mpsc::Sender<Box<dyn Job>>>>,
        done: Mutex<Option<oneshot::Receiver<()>>>,
    },
    Pooled(AnyPool),
}

impl Writer {
    /// A single writer thread owning `conn` (SQLite).
    pub fn spawn(conn: Conn, mode: CommitMode) -> Result<Self, StoreError> {
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
                runtime.block_on(writer_loop(conn, rx, max_batch));
                let _ = finished.send(());
            })
            .map_err(|e| StoreError::Config(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner::Queue {
                tx: Mutex::new(Some(tx)),
                done: Mutex::new(Some(done)),
            }),
        })
    }

    /// Each write in its own pooled transaction (PostgreSQL).
    pub fn pooled(pool: AnyPool) -> Self {
        Self {
            inner: Arc::new(Inner::Pooled(pool)),
        }
    }

    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<T, StoreError>> + Send + 'static,
    {
        match &*self.inner {
            Inner::Pooled(pool) => {
                let mut conn = Conn::transaction(pool.begin().await?);
                let value = crate::audit::journaled(&mut conn, f).await?;
                conn.commit().await?;
                Ok(value)
            }
            Inner::Queue { tx, .. } => {
                let sender = tx.lock().await.clone().ok_or(StoreError::Closed)?;
                let (reply, answer) = oneshot::channel();
                let job: Box<dyn Job> = Box::new(TypedJob {
                    work: Some(Box::new(f)),
                    result: None,
                    reply,
                });
                sender.send(job).await.map_err(|_| StoreError::Closed)?;
                answer.await.map_err(|_| StoreError::Closed)?
            }
        }
    }

    /// Stops taking writes, lets the queued ones commit, and waits for the thread.
    pub async fn close(&self) {
        if let Inner::Queue { tx, done } = &*self.inner {
            tx.lock().await.take();
            if let Some(done) = done.lock().await.take() {
                let _ = done.await;
            }
        }
    }
}

async fn writer_loop(mut conn: Conn, mut rx: mpsc::Receiver<Box<dyn Job>>, max_batch: usize) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let commit = run_batch(&mut conn, &mut batch).await;
        if let Err(e) = &commit {
            tracing::error!(error = %e, writes = batch.len(), "write batch failed to commit");
        }
        for job in batch.drain(..) {
            job.finish(commit.clone());
        }
    }
    drop(conn);
}

async fn run_batch(conn: &mut Conn, batch: &mut [Box<dyn Job>]) -> Result<(), String> {
    // IMMEDIATE takes the write lock up front, so a batch never fails half-way on a
    // lock upgrade. Each write runs in its own savepoint; ending one savepoint and
    // opening the next is one round trip to the connection, as are the first and last.
    if batch.is_empty() {
        return Ok(());
    }
    let mut step = "BEGIN IMMEDIATE; SAVEPOINT w";
    let n = batch.len();
    for (i, job) in batch.iter_mut().enumerate() {
        if let Err(e) = conn.execute_batch(step).await {
            let _ = conn.execute_batch("ROLLBACK").await;
            return Err(e.to_string());
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
    match conn.execute_batch(step).await {
        Ok(_) => Ok(()),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK").await;
            Err(e.to_string())
        }
    }
}
