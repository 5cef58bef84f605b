//! SQLite WAL checkpoints off the writer's thread.
//!
//! In WAL mode a commit appends pages to the log; a checkpoint copies them back into the
//! database file and syncs that file. Left to itself, SQLite checkpoints inside the
//! `COMMIT` that takes the log past 1,000 pages, on the committing connection. With one
//! writer, every write queued behind that commit then waits for the copy and for the
//! sync of the database file: 5.7 ms at the median, 700 ms at worst, measured here during
//! one-member Group PATCHes at 2,500/s, four times a second (creates fill the log several
//! times faster).
//!
//! Here the writer's connection does not checkpoint on its own. A thread with a
//! connection of its own does, [`CheckpointPolicy::interval`] after a commit, in PASSIVE
//! mode: it copies what is committed while the writer goes on appending, and the writer
//! waits for no sync but its own.
//!
//! SQLite writes the log from its start again only when a write transaction begins with
//! every committed page copied. With commits landing while the thread copies, that
//! moment may never come and the log would grow without end. So once the log is longer
//! than [`CheckpointPolicy::restart_frames`], the writer runs one PASSIVE checkpoint
//! itself between two batches: it copies only what came since the thread's last one, and
//! the batch after it starts the log over (unless a read still uses the log; then the
//! next time). `journal_size_limit` cuts the file back to that length. Should the thread
//! fall behind or fail, SQLite's own checkpoint, at four times that length, still bounds
//! the log.

use crate::db::{self, Conn};
use crate::StoreError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// When the log is copied back into the database file (SQLite only).
#[derive(Debug, Clone, Copy)]
pub struct CheckpointPolicy {
    /// How long commits gather before the thread copies them: a page that several
    /// batches wrote meanwhile is copied once.
    pub interval: Duration,
    /// The log's length, in pages, past which the writer starts it over.
    pub restart_frames: u32,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(20),
            // 64 MiB of 4 KiB pages.
            restart_frames: 16_384,
        }
    }
}

impl CheckpointPolicy {
    /// The writer connection's own settings: SQLite's checkpoint only as a backstop,
    /// and the log file cut back to the restart length.
    pub(crate) fn writer_pragmas(&self) -> String {
        format!(
            "PRAGMA wal_autocheckpoint = {}; PRAGMA journal_size_limit = {};",
            u64::from(self.restart_frames) * 4,
            u64::from(self.restart_frames) * 4096
        )
    }
}

/// The checkpointing thread, as the writer sees it. Dropping it stops the thread.
pub(crate) struct Checkpoints {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    signal: Mutex<Signal>,
    wake: Condvar,
    /// The log is past its length: the writer should let it start over.
    restart: AtomicBool,
}

#[derive(Default)]
struct Signal {
    committed: bool,
    stop: bool,
}

impl Shared {
    fn signal(&self) -> MutexGuard<'_, Signal> {
        // Two flags: a panic while the lock was held cannot leave them half-changed.
        self.signal.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `(busy, pages in the log, pages copied)`, as `PRAGMA wal_checkpoint` answers.
type Outcome = (i64, i64, i64);

impl Checkpoints {
    /// Starts the thread on a connection of its own to the database at `path`.
    pub(crate) fn start(path: &str, pragmas: &[&str], policy: CheckpointPolicy) -> Result<Self, StoreError> {
        let conn = db::open_sqlite(path, pragmas)?;
        let shared = Arc::new(Shared::default());
        let theirs = shared.clone();
        let thread = std::thread::Builder::new()
            .name("roster-checkpoint".into())
            .spawn(move || run(&conn, &theirs, policy))
            .map_err(|e| StoreError::Config(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// The writer committed: the thread copies the log back soon.
    pub(crate) fn committed(&self) {
        self.shared.signal().committed = true;
        self.shared.wake.notify_one();
    }

    /// Between two batches, on the writer's connection: when the log is past its
    /// length, copies what the thread has not, so that the next batch starts it over.
    pub(crate) async fn restart_if_due(&self, conn: &mut Conn) {
        if !self.shared.restart.load(Ordering::Relaxed) {
            return;
        }
        match passive(conn).await {
            // Everything is copied: the next write transaction starts the log over.
            Ok((0, log, copied)) if log == copied => self.shared.restart.store(false, Ordering::Relaxed),
            // The thread is copying: next time.
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint on the writer failed"),
        }
    }
}

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.shared.signal().stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn passive(conn: &mut Conn) -> Result<Outcome, StoreError> {
    let row = db::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(conn).await?;
    Ok((row.try_get("busy")?, row.try_get("log")?, row.try_get("checkpointed")?))
}

fn run(conn: &rusqlite::Connection, shared: &Shared, policy: CheckpointPolicy) {
    loop {
        let signal = shared
            .wake
            .wait_while(shared.signal(), |s| !s.committed && !s.stop)
            .unwrap_or_else(PoisonError::into_inner);
        // Commits gather for a while (a stop cuts it short).
        let (mut signal, _) = shared
            .wake
            .wait_timeout_while(signal, policy.interval, |s| !s.stop)
            .unwrap_or_else(PoisonError::into_inner);
        if signal.stop {
            return;
        }
        signal.committed = false;
        drop(signal);
        let outcome = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok::<Outcome, rusqlite::Error>((r.get(0)?, r.get(1)?, r.get(2)?))
        });
        match outcome {
            Ok((_, log, _)) => {
                if log >= i64::from(policy.restart_frames) {
                    shared.restart.store(true, Ordering::Relaxed);
                }
            }
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
    }
}
