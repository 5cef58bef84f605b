//! Roster's storage: one [`Store`] over SQLite (embedded default) or PostgreSQL, chosen
//! from the URL scheme at start.
//!
//! - Statements run through [`db`]: synchronously through the SQLite library on SQLite,
//!   over sqlx on PostgreSQL.
//! - Reads go through a connection pool.
//! - Every write is a closure run inside a transaction by the [`writer`]; the change and
//!   its audit event commit together or not at all. On SQLite the writer is a single thread
//!   that group-commits: the writes that arrive while one batch commits form the next
//!   batch, each in its own savepoint, with one `COMMIT` (one fsync) per batch. The
//!   same writer runs on PostgreSQL, over a few connections at once.
//! - SQL text is shared by both engines (`$n` placeholders, portable types: ids are
//!   TEXT UUIDs, times BIGINT Unix milliseconds, JSON in TEXT). The engines differ only
//!   in their migration folders and connection setup, both in this crate.
//!
//! Modules by object: [`directory`] (companies, organizations, teams, users,
//! memberships, invitations), [`domains`], [`connections`], [`tokens`] (admin and SCIM
//! tokens), [`audit`].

pub mod activity;
pub mod api_keys;
pub mod apps;
pub mod audit;
mod checkpoint;
pub mod connections;
pub mod console;
pub mod db;
pub mod directory;
pub mod domains;
mod error;
pub mod error_log;
pub mod oauth2;
pub mod oidc;
pub mod provisioning;
pub mod retention;
pub mod saml;
pub mod scim;
pub mod sessions;
pub mod setup_links;
pub mod signals;
pub mod signing_keys;
pub mod tokens;
pub mod webhooks;
pub mod writer;

use db::{pg_readers, PG_STATEMENT_CACHE};
pub use db::{PG_BATCH, PG_WRITE_LANES};

pub use crate::checkpoint::CheckpointPolicy;
pub use crate::db::Conn;
pub use error::StoreError;

use checkpoint::Checkpoints;
use futures::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Connection;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use writer::{CommitMode, Writer};

/// The database engine behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// Who or what made a change, and under which request: stamped on every audit event.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub actor_kind: &'static str,
    pub actor_id: Option<String>,
    pub trace_id: String,
    /// Unix milliseconds; injected so that tests are exact.
    pub now: i64,
    /// The rule and reason behind the changes made under this context, when a
    /// provisioning rule (rather than a person) decided them.
    pub cause: Option<Cause>,
    /// The SSO connection the change came through (SSO sign-in, SCIM), if any.
    pub connection_id: Option<String>,
}

/// Why a change was made: the spec rule and the attribute value or request behind it.
#[derive(Debug, Clone)]
pub struct Cause {
    pub rule: &'static str,
    pub reason: String,
}

impl Ctx {
    pub fn new(actor_kind: &'static str, actor_id: Option<String>, trace_id: impl Into<String>, now: i64) -> Self {
        Self {
            actor_kind,
            actor_id,
            trace_id: trace_id.into(),
            now,
            cause: None,
            connection_id: None,
        }
    }

    /// The same context, for changes that came through `connection`.
    pub fn via_connection(&self, connection_id: &str) -> Self {
        Self {
            connection_id: Some(connection_id.to_string()),
            ..self.clone()
        }
    }

    /// The same context, with `rule` and `reason` stamped on the audit events it writes.
    pub fn because(&self, rule: &'static str, reason: impl Into<String>) -> Self {
        Self {
            cause: Some(Cause {
                rule,
                reason: reason.into(),
            }),
            ..self.clone()
        }
    }
}

/// The engine behind a connection.
pub(crate) fn backend_of(conn: &Conn) -> Backend {
    conn.backend()
}

/// A scalar subquery giving, as JSON array text, `expr` of every row of `rest` (a
/// `FROM … WHERE …` clause): many child rows in one column of the parent's row, so that
/// reading them costs no second round trip. `[]` when there are none.
pub(crate) fn json_list(backend: Backend, expr: &str, rest: &str) -> String {
    match backend {
        Backend::Sqlite => format!("(SELECT json_group_array({expr}) {rest})"),
        Backend::Postgres => format!("(SELECT COALESCE(json_agg({expr}), '[]'::json)::text {rest})"),
    }
}

/// [`json_list`] of rows: each row's `columns` (comma-separated) as a JSON array, so the
/// column decodes as a list of tuples.
pub(crate) fn json_rows(backend: Backend, columns: &str, rest: &str) -> String {
    let row = match backend {
        Backend::Sqlite => format!("json_array({columns})"),
        Backend::Postgres => format!("json_build_array({columns})"),
    };
    json_list(backend, &row, rest)
}

/// Decodes a [`json_list`] column.
pub(crate) fn from_json_list<T: serde::de::DeserializeOwned>(
    row: &crate::db::Row,
    column: &str,
) -> Result<T, StoreError> {
    let text: String = row.try_get(column)?;
    from_json_text(&text)
}

/// A JSON column's text, decoded; stored JSON that does not decode is corrupt data
/// (an error, never a silent default).
pub(crate) fn from_json_text<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))
}

/// Options for opening a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Pooled connections; `None`: as many as the cores for SQLite (at least 2: its
    /// reads are local CPU work, and more threads than cores only switch between
    /// themselves), 8 for PostgreSQL.
    pub max_connections: Option<u32>,
    /// SQLite only: how many writes one commit may carry (1 = a commit per write).
    pub sqlite_batch: usize,
    /// SQLite only: when the write-ahead log is copied back into the database file.
    pub sqlite_checkpoint: CheckpointPolicy,
    /// PostgreSQL only: how many writes one transaction may carry (1 = a transaction
    /// per write).
    pub pg_batch: usize,
    /// PostgreSQL only: how many batches of writes may run at once, each on its own
    /// connection; `None`: [`PG_WRITE_LANES`].
    pub pg_write_lanes: Option<usize>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: None,
            sqlite_batch: 256,
            sqlite_checkpoint: CheckpointPolicy::default(),
            pg_batch: PG_BATCH,
            pg_write_lanes: None,
        }
    }
}

#[derive(Clone)]
pub struct Store {
    readers: Readers,
    backend: Backend,
    writer: Writer,
}

/// Where reads get their connection.
#[derive(Clone)]
enum Readers {
    /// SQLite connections run by this process (see [`db`]); the sqlx URL of the same
    /// file serves the migrations. (Cloned with the store for every request: no owned
    /// string here.)
    Sqlite {
        pool: Arc<db::SqlitePool>,
        /// Connections of their own for [`Store::read_long`]: long reads never hold
        /// the connections the short ones wait for.
        long: Arc<db::SqlitePool>,
        url: Arc<str>,
    },
    Postgres {
        /// Connections for reads (see [`db::PgConnections`]).
        conns: db::PgConnections,
        /// The connection that listens for other nodes' notifications ([`signals`]),
        /// opened by [`Store::signals`].
        listen: PgPool,
    },
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// SQLite connection setup: foreign keys enforced, a busy timeout instead of immediate
/// `SQLITE_BUSY`, and `synchronous=FULL` so that a commit is on disk before it returns.
const SQLITE_PRAGMAS: &str = "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA synchronous = FULL;";

/// Readers keep 32 MiB of pages each, so that the indexes of a large directory stay in
/// memory. Measured at 100,000 users, three runs each: 10,043–10,420 filtered reads/s
/// against 9,802–10,027/s with 8 MiB, for about 20 MB more resident memory.
const SQLITE_READER: [&str; 2] = [SQLITE_PRAGMAS, "PRAGMA cache_size = -32768;"];

/// The writer keeps SQLite's default 2 MiB page cache. SQLite walks the writer's whole
/// page cache at the end of every transaction, so a large cache costs at each commit
/// more than its hits save (the file's pages stay in the operating system's cache).
/// Measured at 100,000 users: member PATCHes +14%, creates and User PATCHes +6–7%
/// against a 32 MiB writer cache.
///
/// Each write of a batch runs in a savepoint, whose sub-journal (the pages as they were
/// before the write) outgrows SQLite's 64 KiB in-memory limit within a few writes and
/// then goes to a temporary file: `temp_store = MEMORY` keeps it in memory. It is not
/// needed after a crash (the WAL alone recovers). Measured at 100,000 users: creates
/// +11%, User PATCHes +8%, member PATCHes +6–8%.
const SQLITE_WRITER: [&str; 2] = [SQLITE_PRAGMAS, "PRAGMA cache_size = -2000; PRAGMA temp_store = MEMORY;"];

impl Store {
    /// Opens the database named by `url` (`sqlite://PATH`, `sqlite::memory:` is refused,
    /// `postgres://…`), creating a SQLite file and its folder when missing.
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            return Self::connect_sqlite(url, options);
        }
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::Config(format!(
                "unsupported database URL '{}': use sqlite://PATH or postgres://…",
                roster_core::truncate(url, 60)
            )));
        }
        let connect_options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("invalid database URL: {e}")))?
            .statement_cache_capacity(PG_STATEMENT_CACHE);
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let conns = db::PgConnections::new(
            connect_options.clone(),
            options.max_connections.unwrap_or(pg_readers(cores)),
        );
        // The database answers, or the store does not start.
        conns.acquire().await?.keep();
        let lanes = options.pg_write_lanes.unwrap_or(PG_WRITE_LANES).max(1);
        let writers = db::PgConnections::new(connect_options.clone(), lanes as u32);
        // Two: the listener's own reconnection may overlap the close of the connection
        // that broke.
        let listen = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(connect_options.application_name(signals::LISTENER_NAME));
        Ok(Self {
            writer: Writer::lanes(writers, lanes, options.pg_batch.max(1)),
            readers: Readers::Postgres { conns, listen },
            backend: Backend::Postgres,
        })
    }

    fn connect_sqlite(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let (path, url) = sqlite_url(url)?;
        // WAL lets readers run beside the writer; it is a property of the file, so set
        // it once on the writer's connection before any reader opens.
        let writer = db::open_sqlite_writer(&path, &SQLITE_WRITER)?;
        writer
            .execute_batch("PRAGMA journal_mode = WAL;")
            .map_err(db::sqlite_error)?;
        let policy = options.sqlite_checkpoint;
        writer
            .execute_batch(&policy.writer_pragmas())
            .map_err(db::sqlite_error)?;
        let checkpoints = Checkpoints::start(&path, &[SQLITE_PRAGMAS], policy)?;
        // Reads are local CPU work: more connections than cores only switch between
        // themselves (at least 2, at most 8).
        let max_connections = options.max_connections.map_or_else(
            || std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8),
            |n| n.max(1) as usize,
        );
        let writer = Writer::spawn(
            db::Conn::sqlite(writer),
            CommitMode::Group {
                max_batch: options.sqlite_batch.max(1),
            },
            checkpoints,
        )?;
        Ok(Self {
            readers: Readers::Sqlite {
                long: Arc::new(db::SqlitePool::new(path.clone(), &SQLITE_READER, max_connections)),
                pool: Arc::new(db::SqlitePool::new(path, &SQLITE_READER, max_connections)),
                url: url.into(),
            },
            backend: Backend::Sqlite,
            writer,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations of this engine.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let failed = |e: sqlx::migrate::MigrateError| StoreError::Migration(e.to_string());
        match &self.readers {
            Readers::Sqlite { url, .. } => {
                // Off for the migrations, as SQLite's procedure for rebuilding a table
                // that others reference needs (dropping the old table must not run
                // its ON DELETE actions); every reference is checked afterwards.
                let mut conn = sqlx::sqlite::SqliteConnection::connect(url).await?;
                sqlx::query("PRAGMA foreign_keys = OFF").execute(&mut conn).await?;
                SQLITE_MIGRATOR.run(&mut conn).await.map_err(failed)?;
                let broken = sqlx::query("PRAGMA foreign_key_check").fetch_all(&mut conn).await?;
                conn.close().await?;
                if !broken.is_empty() {
                    return Err(StoreError::Migration(format!(
                        "{} rows reference rows that do not exist after the migrations",
                        broken.len()
                    )));
                }
                Ok(())
            }
            Readers::Postgres { conns, .. } => {
                let mut lease = conns.acquire().await?;
                let conn = lease.conn().ok_or(StoreError::Closed)?;
                POSTGRES_MIGRATOR.run(conn).await.map_err(failed)?;
                lease.keep();
                Ok(())
            }
        }
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        self.read(|conn| Box::pin(async move { db::query("SELECT 1").execute(conn).await }))
            .await
            .is_ok()
    }

    /// Runs `f` inside a write transaction; its changes are durably committed when this
    /// returns `Ok`, and rolled back entirely when `f` fails.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<T, StoreError>> + Send + 'static,
    {
        self.writer.run(f).await
    }

    /// [`Store::write`] for work that can run again from the start (its transaction may
    /// be rolled back and the work repeated), with no effect outside the transaction:
    /// such writes commit together without a savepoint each. The result is the same
    /// as [`Store::write`]'s.
    pub async fn write_repeatable<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> Fn(&'c mut Conn) -> BoxFuture<'c, Result<T, StoreError>> + Send + Sync + 'static,
    {
        self.writer.run_repeatable(f).await
    }

    /// Runs `f` on a connection of the readers', for reads.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<T, StoreError>>,
    {
        match &self.readers {
            Readers::Sqlite { pool, .. } => pool.read(f).await,
            Readers::Postgres { conns, .. } => {
                let mut conn = Conn::postgres(conns.acquire().await?);
                let result = f(&mut conn).await;
                conn.keep_after(&result);
                result
            }
        }
    }

    /// [`Store::read`] for a read that may take long: a list whose filter no index
    /// narrows, or that counts a whole directory. On SQLite it runs on a thread of the
    /// blocking pool, so the threads that serve requests go on serving the others while
    /// it runs (the operating system shares the cores between them); [`Store::read`]
    /// runs on the request's own thread, which saves the hand-off on short reads but
    /// holds up every request on that thread until it ends. PostgreSQL reads wait on the
    /// network, never on a thread: the same as [`Store::read`].
    pub async fn read_long<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<T, StoreError>> + Send + 'static,
    {
        match &self.readers {
            Readers::Sqlite { long, .. } => {
                let pool = long.clone();
                let runtime = tokio::runtime::Handle::current();
                // SQLite statements never wait: the future runs to its end on this
                // thread, bar the wait for a connection permit.
                tokio::task::spawn_blocking(move || runtime.block_on(pool.read(f)))
                    .await
                    .map_err(|_| StoreError::Database(sqlx::Error::WorkerCrashed))?
            }
            Readers::Postgres { .. } => self.read(f).await,
        }
    }

    /// [`Store::read_long`] when `long`, else [`Store::read`].
    pub async fn read_long_if<T, F>(&self, long: bool, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<T, StoreError>> + Send + 'static,
    {
        if long {
            self.read_long(f).await
        } else {
            self.read(f).await
        }
    }

    /// Notifications from the nodes sharing this database (PostgreSQL); `None` on
    /// SQLite, which serves one node.
    pub async fn signals(&self) -> Result<Option<signals::Signals>, StoreError> {
        match &self.readers {
            Readers::Sqlite { .. } => Ok(None),
            Readers::Postgres { listen, .. } => signals::Signals::listen(listen).await.map(Some),
        }
    }

    /// Pool gauges for metrics: (open connections, idle connections).
    pub fn pool_stats(&self) -> (u32, usize) {
        match &self.readers {
            Readers::Sqlite { pool, long, .. } => {
                let ((open, idle), (long_open, long_idle)) = (pool.stats(), long.stats());
                (open + long_open, idle + long_idle)
            }
            Readers::Postgres { conns, .. } => conns.stats(),
        }
    }

    /// Closes the pool and stops the writer after the writes already queued.
    pub async fn close(&self) {
        self.writer.close().await;
        match &self.readers {
            Readers::Sqlite { pool, long, .. } => {
                pool.close();
                long.close();
            }
            Readers::Postgres { conns, listen } => {
                conns.close().await;
                listen.close().await;
            }
        }
    }
}

/// Normalises `sqlite://PATH` (relative or absolute) and creates the parent folder and
/// the file: (the file path, the sqlx URL of the file).
fn sqlite_url(url: &str) -> Result<(String, String), StoreError> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" {
        return Err(StoreError::Config(
            "an in-memory SQLite database loses every change on exit: give a file path, sqlite://PATH".into(),
        ));
    }
    // Roster sets the connection up itself (WAL, synchronous commits, foreign keys):
    // a parameter would be ignored, so it is refused rather than silently dropped.
    if let Some(p) = query.split('&').find(|p| !p.is_empty() && !p.starts_with("mode=")) {
        return Err(StoreError::Config(format!(
            "sqlite://PATH takes no parameters, found '{}'",
            roster_core::truncate(p, 60)
        )));
    }
    // The directory and the file hold the whole directory of people and its secrets:
    // made private to the server's user (0700, 0600) when Roster creates them; an
    // existing folder or file keeps the modes its operator gave it. SQLite gives its log
    // and shared-index files the database file's mode.
    if let Some(parent) = std::path::Path::new(path).parent() {
        if !parent.as_os_str().is_empty() {
            private_dir(parent).map_err(|e| StoreError::Config(format!("cannot create {}: {e}", parent.display())))?;
        }
    }
    private_file(path).map_err(|e| StoreError::Config(format!("cannot create {path}: {e}")))?;
    Ok((path.to_string(), format!("sqlite://{path}?mode=rwc")))
}

#[cfg(unix)]
fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Creates the database file, empty and private, unless it exists.
fn private_file(path: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// A fresh row id: a UUIDv7, time-ordered with 74 random bits. Rows made together sit
/// together in every id index, so a group commit of many creates dirties a few index
/// pages rather than one random page per row. Ids are not secrets: tokens and session
/// cookies come from [`tokens::random_secret`].
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// `value` as JSON text, for a TEXT column. Written straight into a buffer: a
/// `serde_json::Value`'s `to_string` goes through the formatting machinery, which cost a
/// SCIM create about 3% of its instructions.
pub(crate) fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Database(sqlx::Error::Encode(Box::new(e))))
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn a_new_database_and_its_folder_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let root = std::env::temp_dir().join(format!("roster-modes-{}", uuid::Uuid::new_v4().simple()));
        let path = root.join("data").join("roster.db");
        let (file, _) = super::sqlite_url(&format!("sqlite://{}", path.display())).unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&root.join("data")), 0o700);
        assert_eq!(mode(std::path::Path::new(&file)), 0o600);
        // A refused URL creates nothing.
        let other = root.join("other").join("x.db");
        assert!(super::sqlite_url(&format!("sqlite://{}?cache=shared", other.display())).is_err());
        assert!(!other.exists());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
