//! The SQLite side of [`super`]: opening connections, running a statement synchronously
//! through the SQLite library, the pool of read connections, and SQLite's errors in the
//! shape the rest of the store reads database errors in.

use super::{protocol, wal_writes, Conn, Param, Row, RowInner, Want};
use crate::StoreError;
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use std::borrow::Cow;
use std::sync::Arc;

/// Opens a SQLite connection to the file at `path` with the store's settings.
pub(crate) fn open_sqlite(path: &str, pragmas: &[&str]) -> Result<rusqlite::Connection, StoreError> {
    open_with(path, pragmas, None)
}

/// Opens the writer's connection: as [`open_sqlite`], writing the log through
/// [`wal_writes`] (one write per commit) where that VFS is available, and refused
/// where the connection's settings do not allow it ([`wal_writes::guard`]).
pub(crate) fn open_sqlite_writer(path: &str, pragmas: &[&str]) -> Result<rusqlite::Connection, StoreError> {
    if !wal_writes::register() {
        return open_with(path, pragmas, None);
    }
    let conn = open_with(path, pragmas, Some(wal_writes::NAME))?;
    wal_writes::guard(&conn).map_err(protocol)?;
    Ok(conn)
}

fn open_with(path: &str, pragmas: &[&str], vfs: Option<&str>) -> Result<rusqlite::Connection, StoreError> {
    use rusqlite::OpenFlags;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = match vfs {
        Some(vfs) => rusqlite::Connection::open_with_flags_and_vfs(path, flags, vfs),
        None => rusqlite::Connection::open_with_flags(path, flags),
    }
    .map_err(sqlite_error)?;
    for p in pragmas {
        conn.execute_batch(p).map_err(sqlite_error)?;
    }
    // Enough for every fixed statement of the store; filter statements come and go.
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

impl rusqlite::ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Param::Null(_) => ValueRef::Null,
            Param::Int(i) => ValueRef::Integer(*i),
            Param::Int32(i) => ValueRef::Integer(i64::from(*i)),
            Param::Text(s) => ValueRef::Text(s.as_bytes()),
            Param::Bool(b) => ValueRef::Integer(i64::from(*b)),
        }))
    }
}

pub(super) fn run(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[Param],
    want: Want,
) -> Result<(Vec<Row>, u64), StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(sqlite_error)?;
    for i in 1..=stmt.parameter_count() {
        // `$n` names the n-th bound value; a bare `?` takes its own position.
        let n = match stmt.parameter_name(i) {
            Some(name) => name
                .strip_prefix('$')
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| protocol(format!("unsupported parameter {name} in statement")))?,
            None => i,
        };
        let value = params.get(n.wrapping_sub(1)).ok_or_else(|| {
            protocol(format!(
                "statement parameter ${n} has no value ({} bound)",
                params.len()
            ))
        })?;
        stmt.raw_bind_parameter(i, value).map_err(sqlite_error)?;
    }
    let mut out = Vec::new();
    let width = stmt.column_count();
    {
        // The column names, shared by every row of the result.
        let columns: Arc<[String]> = if want == Want::None {
            Arc::from([])
        } else {
            stmt.column_names().into_iter().map(str::to_string).collect()
        };
        let mut rows = stmt.raw_query();
        // Every change a statement makes happens on its first step, RETURNING
        // included; stepping on only reads the rows a caller wants.
        while let Some(row) = rows.next().map_err(sqlite_error)? {
            if want == Want::None {
                continue;
            }
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(Value::from(row.get_ref(i).map_err(sqlite_error)?));
            }
            out.push(Row(RowInner::Sqlite {
                columns: columns.clone(),
                values: values.into_boxed_slice(),
            }));
            if want == Want::One {
                break;
            }
        }
    }
    Ok((out, conn.changes()))
}

/// A SQLite error, in the shape the rest of the store reads database errors in (a
/// unique violation is a conflict on both engines).
#[derive(Debug)]
pub struct SqliteError {
    message: String,
    code: Option<String>,
    kind: sqlx::error::ErrorKind,
}

impl std::fmt::Display for SqliteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqliteError {}

impl sqlx::error::DatabaseError for SqliteError {
    fn message(&self) -> &str {
        &self.message
    }
    fn code(&self) -> Option<Cow<'_, str>> {
        self.code.as_deref().map(Cow::Borrowed)
    }
    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }
    fn kind(&self) -> sqlx::error::ErrorKind {
        use sqlx::error::ErrorKind;
        match self.kind {
            ErrorKind::UniqueViolation => ErrorKind::UniqueViolation,
            ErrorKind::ForeignKeyViolation => ErrorKind::ForeignKeyViolation,
            ErrorKind::NotNullViolation => ErrorKind::NotNullViolation,
            ErrorKind::CheckViolation => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

pub(crate) fn sqlite_error(e: rusqlite::Error) -> StoreError {
    use rusqlite::ffi;
    use sqlx::error::ErrorKind;
    match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            let kind = match code.extended_code {
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => ErrorKind::UniqueViolation,
                ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
                ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
                ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
                _ => ErrorKind::Other,
            };
            StoreError::from(sqlx::Error::Database(Box::new(SqliteError {
                message: message.unwrap_or_else(|| code.to_string()),
                code: Some(code.extended_code.to_string()),
                kind,
            })))
        }
        other => protocol(other.to_string()),
    }
}

/// The SQLite read connections. A read runs to its end on the thread that took the
/// connection (its statements never wait), so the pool holds about as many connections
/// as there are threads reading at once, up to `max`; `max` bounds them in any case.
pub(crate) struct SqlitePool {
    path: String,
    pragmas: &'static [&'static str],
    idle: std::sync::Mutex<Vec<rusqlite::Connection>>,
    permits: tokio::sync::Semaphore,
    max: usize,
}

impl SqlitePool {
    pub(crate) fn new(path: String, pragmas: &'static [&'static str], max: usize) -> Self {
        Self {
            path,
            pragmas,
            idle: std::sync::Mutex::new(Vec::new()),
            permits: tokio::sync::Semaphore::new(max),
            max,
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<rusqlite::Connection>> {
        // A panic while the lock was held cannot leave the list half-changed.
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: for<'c> FnOnce(&'c mut Conn) -> futures::future::BoxFuture<'c, Result<T, StoreError>>,
    {
        let _permit = self.permits.acquire().await.map_err(|_| StoreError::Closed)?;
        let idle = self.idle().pop();
        let conn = match idle {
            Some(c) => c,
            None => open_sqlite(&self.path, self.pragmas)?,
        };
        let mut conn = Conn::sqlite(conn);
        let result = f(&mut conn).await;
        if let Some(c) = conn.into_sqlite() {
            // Statements of a finished read are reset when dropped; a read leaves no
            // transaction open. The connection is as good as new.
            self.idle().push(c);
        }
        result
    }

    /// (open connections, idle connections).
    pub(crate) fn stats(&self) -> (u32, usize) {
        let idle = self.idle().len();
        let busy = self.max.saturating_sub(self.permits.available_permits());
        ((idle + busy) as u32, idle)
    }

    pub(crate) fn close(&self) {
        self.permits.close();
        self.idle().clear();
    }
}
