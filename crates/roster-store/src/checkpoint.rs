//! SQLite WAL checkpoints off the writer's thread.
//!
//! In WAL mode a commit appends pages to the log; a checkpoint copies them back into the
//! database file and syncs that file. Left to itself, SQLite checkpoints inside every
//! `COMMIT` that leaves the log past 1,000 pages, on the committing connection. With one
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
//! than [`CheckpointPolicy::restart_frames`], the thread leaves the copying to the writer,
//! which runs one PASSIVE checkpoint itself between two batches: it copies only what came
//! since the thread's last one, and the batch after it starts the log over. A read that
//! still uses the log can prevent that; the thread then asks again after its next round,
//! so the writer tries at most once per round. `journal_size_limit` cuts the file back to
//! that length. Should the thread fail, SQLite's own checkpoint, at four times that
//! length, still copies the log back on the writer.

use crate::db::{self, Conn};
use crate::StoreError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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
    /// and the log file cut back to the restart length (of the store's 4 KiB pages).
    pub(crate) fn writer_pragmas(&self) -> String {
        let backstop = (u64::from(self.restart_frames) * 4).min(i32::MAX as u64);
        format!(
            "PRAGMA wal_autocheckpoint = {backstop}; PRAGMA journal_size_limit = {};",
            u64::from(self.restart_frames) * 4096
        )
    }
}

/// The checkpointing thread, as the writer sees it. Dropping it stops the thread.
pub(crate) struct Checkpoints {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// When the writer's own checkpoint last failed, so that a lasting failure is
    /// logged once a minute, not at every batch.
    warned: Mutex<Option<Instant>>,
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
            warned: Mutex::new(None),
        })
    }

    /// The writer committed: the thread copies the log back soon.
    pub(crate) fn committed(&self) {
        self.shared.signal().committed = true;
        self.shared.wake.notify_one();
    }

    /// Between two batches, on the writer's connection: when the thread found the log
    /// past its length, copies what the thread has not, so that the next batch starts
    /// the log over. Tried once per request of the thread: if a read still holds part of
    /// the log, the thread asks again after its next round.
    pub(crate) async fn restart_if_due(&self, conn: &mut Conn) {
        if !self.shared.restart.swap(false, Ordering::Relaxed) {
            return;
        }
        if let Err(e) = passive(conn).await {
            let mut warned = self.warned.lock().unwrap_or_else(PoisonError::into_inner);
            if warned.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                tracing::warn!(error = %e, "WAL checkpoint on the writer failed");
                *warned = Some(Instant::now());
            }
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

async fn passive(conn: &mut Conn) -> Result<(), StoreError> {
    db::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(conn).await?;
    Ok(())
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
        if shared.restart.load(Ordering::Relaxed) {
            // The writer copies the rest itself before its next batch: a checkpoint
            // here would only make it find the copying busy.
            continue;
        }
        // The answer's second column is the log's length in pages.
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1)) {
            Ok(log) if log >= i64::from(policy.restart_frames) => shared.restart.store(true, Ordering::Relaxed),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
    }
}
