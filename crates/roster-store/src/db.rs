//! Running statements on either engine through one small API: [`query`],
//! [`query_as`] and [`query_scalar`] build a statement with its parameters; a
//! [`Conn`] runs it; a [`Row`] gives its columns back as Rust values.
//!
//! - **SQLite** statements run synchronously on the calling thread, through the SQLite
//!   library itself (rusqlite). A statement on the embedded file is a few microseconds of
//!   CPU. Handing each one to a per-connection thread and back, as an async driver must,
//!   cost more than the statement: about four context switches per statement. Here a
//!   read is one synchronous call on the request's worker thread. The writer runs on a
//!   thread of its own, so its commits never stall request handling (see [`crate::writer`]).
//! - **PostgreSQL** statements go over the network through sqlx, awaited as usual.
//!
//! The SQL text is shared: `$n` placeholders and portable types on both engines. On
//! SQLite each `$n` is bound by its name, so a statement may use its parameters in any
//! order and more than once. Prepared statements are cached per connection on both.
//!
//! sqlx offers no synchronous SQLite driver, and rusqlite offers no PostgreSQL one: this
//! module is the thin layer between the two that the store's SQL needs, and no more.

use crate::{Backend, StoreError};
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use sqlx::any::AnyRow;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Transaction};
use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::Arc;

/// A connection to the store's database: a SQLite connection owned by this thread of
/// work, or a pooled PostgreSQL connection, possibly inside a transaction.
pub struct Conn(Inner);

enum Inner {
    Sqlite(Box<rusqlite::Connection>),
    Pooled(PoolConnection<Any>),
    Tx(Transaction<'static, Any>),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Conn").field(&self.backend()).finish()
    }
}

impl Conn {
    pub(crate) fn sqlite(conn: rusqlite::Connection) -> Self {
        Self(Inner::Sqlite(Box::new(conn)))
    }

    pub(crate) fn pooled(conn: PoolConnection<Any>) -> Self {
        Self(Inner::Pooled(conn))
    }

    pub(crate) fn transaction(tx: Transaction<'static, Any>) -> Self {
        Self(Inner::Tx(tx))
    }

    /// The SQLite connection back, to return it to its pool.
    pub(crate) fn into_sqlite(self) -> Option<rusqlite::Connection> {
        match self.0 {
            Inner::Sqlite(c) => Some(*c),
            _ => None,
        }
    }

    /// Commits the PostgreSQL transaction this connection was made from.
    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        match self.0 {
            Inner::Tx(tx) => Ok(tx.commit().await?),
            _ => Ok(()),
        }
    }

    pub fn backend(&self) -> Backend {
        match self.0 {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Pooled(_) | Inner::Tx(_) => Backend::Postgres,
        }
    }

    /// Runs `sql`, one or more statements without parameters and without results
    /// (transaction control, pragmas).
    pub async fn execute_batch(&mut self, sql: &str) -> Result<(), StoreError> {
        match &mut self.0 {
            Inner::Sqlite(c) => c.execute_batch(sql).map_err(sqlite_error),
            Inner::Pooled(c) => sqlx::Executor::execute(&mut **c, sql)
                .await
                .map(drop)
                .map_err(Into::into),
            Inner::Tx(c) => sqlx::Executor::execute(&mut **c, sql)
                .await
                .map(drop)
                .map_err(Into::into),
        }
    }

    fn any(&mut self) -> Option<&mut AnyConnection> {
        match &mut self.0 {
            Inner::Sqlite(_) => None,
            Inner::Pooled(c) => Some(&mut **c),
            Inner::Tx(c) => Some(&mut **c),
        }
    }
}

/// Opens a SQLite connection to the file at `path` with the store's settings.
pub(crate) fn open_sqlite(path: &str, pragmas: &str) -> Result<rusqlite::Connection, StoreError> {
    use rusqlite::OpenFlags;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags).map_err(sqlite_error)?;
    conn.execute_batch(pragmas).map_err(sqlite_error)?;
    // Enough for every fixed statement of the store; filter statements come and go.
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

/// A parameter value. `Null` keeps its type: PostgreSQL must know what a NULL is.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Null(Kind),
    Int(i64),
    Int32(i32),
    Real(f64),
    Text(String),
    Bool(bool),
    Blob(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Int32,
    Real,
    Text,
    Bool,
    Blob,
}

impl rusqlite::ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Param::Null(_) => ValueRef::Null,
            Param::Int(i) => ValueRef::Integer(*i),
            Param::Int32(i) => ValueRef::Integer(i64::from(*i)),
            Param::Real(f) => ValueRef::Real(*f),
            Param::Text(s) => ValueRef::Text(s.as_bytes()),
            Param::Bool(b) => ValueRef::Integer(i64::from(*b)),
            Param::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// A Rust value that can be bound as a statement parameter.
pub trait Encode {
    const KIND: Kind;
    fn into_param(self) -> Param;
}

macro_rules! encode {
    ($($t:ty => $kind:ident, |$v:ident| $e:expr;)*) => {$(
        impl Encode for $t {
            const KIND: Kind = Kind::$kind;
            fn into_param(self) -> Param {
                let $v = self;
                $e
            }
        }
    )*};
}

encode! {
    i64 => Int, |v| Param::Int(v);
    i32 => Int32, |v| Param::Int32(v);
    f64 => Real, |v| Param::Real(v);
    bool => Bool, |v| Param::Bool(v);
    String => Text, |v| Param::Text(v);
    &str => Text, |v| Param::Text(v.to_string());
    &String => Text, |v| Param::Text(v.clone());
    Vec<u8> => Blob, |v| Param::Blob(v);
    &[u8] => Blob, |v| Param::Blob(v.to_vec());
}

impl<T: Encode> Encode for Option<T> {
    const KIND: Kind = T::KIND;
    fn into_param(self) -> Param {
        match self {
            Some(v) => v.into_param(),
            None => Param::Null(T::KIND),
        }
    }
}

impl<'a, T> Encode for &'a Option<T>
where
    &'a T: Encode,
{
    const KIND: Kind = <&'a T as Encode>::KIND;
    fn into_param(self) -> Param {
        self.as_ref().into_param()
    }
}

/// A column value that can be read into a Rust value, on either engine.
pub trait Decode: Sized + for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any> {
    fn from_sqlite(value: ValueRef<'_>) -> Result<Self, String>;
}

fn mismatch(want: &str, got: ValueRef<'_>) -> String {
    let got = match got {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "INTEGER",
        ValueRef::Real(_) => "REAL",
        ValueRef::Text(_) => "TEXT",
        ValueRef::Blob(_) => "BLOB",
    };
    format!("expected {want}, found {got}")
}

impl Decode for i64 {
    fn from_sqlite(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Integer(i) => Ok(i),
            other => Err(mismatch("an integer", other)),
        }
    }
}

impl Decode for i32 {
    fn from_sqlite(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Integer(i) => i32::try_from(i).map_err(|_| format!("{i} does not fit a 32-bit integer")),
            other => Err(mismatch("an integer", other)),
        }
    }
}

impl Decode for f64 {
    fn from_sqlite(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Real(f) => Ok(f),
            ValueRef::Integer(i) => Ok(i as f64),
            other => Err(mismatch("a number", other)),
        }
    }
}

impl Decode for bool {
    fn from_sqlite(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Integer(i) => Ok(i != 0),
            other => Err(mismatch("a boolean", other)),
        }
    }
}

impl Decode for String {
    fn from_sqlite(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Text(t) => String::from_utf8(t.to_vec()).map_err(|e| e.to_string()),
            other => Err(mismatch("text", other)),
        }
    }
}

impl Decode for Vec<u8> {
    fn from_sqlite(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Blob(b) | ValueRef::Text(b) => Ok(b.to_vec()),
            other => Err(mismatch("bytes", other)),
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    fn from_sqlite(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Null => Ok(None),
            v => T::from_sqlite(v).map(Some),
        }
    }
}

/// One result row.
pub struct Row(RowInner);

enum RowInner {
    Sqlite {
        columns: Arc<[String]>,
        values: Box<[Value]>,
    },
    Any(AnyRow),
}

impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            RowInner::Sqlite { columns, values } => f.debug_map().entries(columns.iter().zip(values.iter())).finish(),
            RowInner::Any(row) => f.debug_tuple("Row").field(&sqlx::Row::len(row)).finish(),
        }
    }
}

/// How a column is named when read: by name or by 0-based position.
pub trait ColumnIndex: Copy + std::fmt::Display + sqlx::ColumnIndex<AnyRow> {
    fn position(self, columns: &[String]) -> Option<usize>;
}

impl ColumnIndex for &str {
    fn position(self, columns: &[String]) -> Option<usize> {
        columns.iter().position(|c| c == self)
    }
}

impl ColumnIndex for usize {
    fn position(self, columns: &[String]) -> Option<usize> {
        (self < columns.len()).then_some(self)
    }
}

impl Row {
    /// The column `index` as a `T`; an error names the column when the value does not
    /// fit or the column does not exist.
    pub fn try_get<T: Decode, I: ColumnIndex>(&self, index: I) -> Result<T, StoreError> {
        match &self.0 {
            RowInner::Any(row) => Ok(sqlx::Row::try_get::<T, I>(row, index)?),
            RowInner::Sqlite { columns, values } => {
                let at = index
                    .position(columns)
                    .ok_or_else(|| StoreError::Database(sqlx::Error::ColumnNotFound(index.to_string())))?;
                T::from_sqlite(ValueRef::from(&values[at])).map_err(|e| {
                    StoreError::Database(sqlx::Error::ColumnDecode {
                        index: index.to_string(),
                        source: e.into(),
                    })
                })
            }
        }
    }
}

/// Builds a row value from a result row.
pub trait FromRow: Sized {
    fn from_row(row: &Row) -> Result<Self, StoreError>;
}

/// `FromRow` for a struct whose fields are read from the columns of the same names.
macro_rules! from_row {
    ($t:ident { $($field:ident),* $(,)? }) => {
        impl $crate::db::FromRow for $t {
            fn from_row(row: &$crate::db::Row) -> Result<Self, $crate::StoreError> {
                Ok(Self { $($field: row.try_get(stringify!($field))?),* })
            }
        }
    };
}
pub(crate) use from_row;

macro_rules! tuple_from_row {
    ($($t:ident $i:tt),*) => {
        impl<$($t: Decode),*> FromRow for ($($t,)*) {
            fn from_row(row: &Row) -> Result<Self, StoreError> {
                Ok(($(row.try_get::<$t, usize>($i)?,)*))
            }
        }
    };
}
tuple_from_row!(A 0);
tuple_from_row!(A 0, B 1);
tuple_from_row!(A 0, B 1, C 2);
tuple_from_row!(A 0, B 1, C 2, D 3);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4);

/// What a statement changed.
#[derive(Debug, Clone, Copy)]
pub struct Done {
    rows_affected: u64,
}

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.rows_affected
    }
}

/// A statement and its parameters (`$1`, `$2`, … in order of [`Query::bind`]).
#[must_use = "a query does nothing until it is run on a connection"]
pub struct Query<'q> {
    sql: Cow<'q, str>,
    params: Vec<Param>,
}

pub fn query(sql: &str) -> Query<'_> {
    Query {
        sql: Cow::Borrowed(sql),
        params: Vec::new(),
    }
}

/// How many rows a statement should produce.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    None,
    One,
    All,
}

impl<'q> Query<'q> {
    pub fn bind<T: Encode>(mut self, value: T) -> Self {
        self.params.push(value.into_param());
        self
    }

    /// Binds an already converted value.
    pub fn bind_param(mut self, value: Param) -> Self {
        self.params.push(value);
        self
    }

    pub async fn execute(self, conn: &mut Conn) -> Result<Done, StoreError> {
        let (_, rows_affected) = self.run(conn, Want::None).await?;
        Ok(Done { rows_affected })
    }

    pub async fn fetch_all(self, conn: &mut Conn) -> Result<Vec<Row>, StoreError> {
        Ok(self.run(conn, Want::All).await?.0)
    }

    pub async fn fetch_optional(self, conn: &mut Conn) -> Result<Option<Row>, StoreError> {
        Ok(self.run(conn, Want::One).await?.0.into_iter().next())
    }

    pub async fn fetch_one(self, conn: &mut Conn) -> Result<Row, StoreError> {
        self.fetch_optional(conn)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }

    async fn run(self, conn: &mut Conn, want: Want) -> Result<(Vec<Row>, u64), StoreError> {
        if let Inner::Sqlite(c) = &conn.0 {
            return run_sqlite(c, &self.sql, &self.params, want);
        }
        let Some(any) = conn.any() else {
            return Err(StoreError::Closed);
        };
        let mut q = sqlx::query::<Any>(&self.sql);
        for p in self.params {
            q = match p {
                Param::Null(kind) => match kind {
                    Kind::Int => q.bind(None::<i64>),
                    Kind::Int32 => q.bind(None::<i32>),
                    Kind::Real => q.bind(None::<f64>),
                    Kind::Text => q.bind(None::<String>),
                    Kind::Bool => q.bind(None::<bool>),
                    Kind::Blob => q.bind(None::<Vec<u8>>),
                },
                Param::Int(v) => q.bind(v),
                Param::Int32(v) => q.bind(v),
                Param::Real(v) => q.bind(v),
                Param::Text(v) => q.bind(v),
                Param::Bool(v) => q.bind(v),
                Param::Blob(v) => q.bind(v),
            };
        }
        Ok(match want {
            Want::None => (Vec::new(), q.execute(any).await?.rows_affected()),
            Want::One => (
                q.fetch_optional(any)
                    .await?
                    .map(|r| Row(RowInner::Any(r)))
                    .into_iter()
                    .collect(),
                0,
            ),
            Want::All => (
                q.fetch_all(any)
                    .await?
                    .into_iter()
                    .map(|r| Row(RowInner::Any(r)))
                    .collect(),
                0,
            ),
        })
    }
}

fn run_sqlite(
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

/// A statement whose rows are read as `T`.
#[must_use = "a query does nothing until it is run on a connection"]
pub struct QueryAs<'q, T> {
    inner: Query<'q>,
    _t: PhantomData<fn() -> T>,
}

pub fn query_as<T: FromRow>(sql: &str) -> QueryAs<'_, T> {
    QueryAs {
        inner: query(sql),
        _t: PhantomData,
    }
}

impl<'q, T: FromRow> QueryAs<'q, T> {
    pub fn bind<V: Encode>(self, value: V) -> Self {
        Self {
            inner: self.inner.bind(value),
            _t: PhantomData,
        }
    }

    pub async fn fetch_all(self, conn: &mut Conn) -> Result<Vec<T>, StoreError> {
        self.inner.fetch_all(conn).await?.iter().map(T::from_row).collect()
    }

    pub async fn fetch_optional(self, conn: &mut Conn) -> Result<Option<T>, StoreError> {
        self.inner
            .fetch_optional(conn)
            .await?
            .as_ref()
            .map(T::from_row)
            .transpose()
    }

    pub async fn fetch_one(self, conn: &mut Conn) -> Result<T, StoreError> {
        T::from_row(&self.inner.fetch_one(conn).await?)
    }
}

/// A statement whose first column is read as `T`.
#[must_use = "a query does nothing until it is run on a connection"]
pub struct QueryScalar<'q, T> {
    inner: Query<'q>,
    _t: PhantomData<fn() -> T>,
}

pub fn query_scalar<T: Decode>(sql: &str) -> QueryScalar<'_, T> {
    QueryScalar {
        inner: query(sql),
        _t: PhantomData,
    }
}

impl<'q, T: Decode> QueryScalar<'q, T> {
    pub fn bind<V: Encode>(self, value: V) -> Self {
        Self {
            inner: self.inner.bind(value),
            _t: PhantomData,
        }
    }

    pub async fn fetch_all(self, conn: &mut Conn) -> Result<Vec<T>, StoreError> {
        self.inner
            .fetch_all(conn)
            .await?
            .iter()
            .map(|r| r.try_get(0usize))
            .collect()
    }

    pub async fn fetch_optional(self, conn: &mut Conn) -> Result<Option<T>, StoreError> {
        self.inner
            .fetch_optional(conn)
            .await?
            .map(|r| r.try_get(0usize))
            .transpose()
    }

    pub async fn fetch_one(self, conn: &mut Conn) -> Result<T, StoreError> {
        self.inner.fetch_one(conn).await?.try_get(0usize)
    }
}

fn protocol(message: String) -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(message))
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
    pragmas: &'static str,
    idle: std::sync::Mutex<Vec<rusqlite::Connection>>,
    permits: tokio::sync::Semaphore,
    max: usize,
}

impl SqlitePool {
    pub(crate) fn new(path: String, pragmas: &'static str, max: usize) -> Self {
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
