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

mod postgres;
mod sqlite;
// The one module with unsafe code (FFI to SQLite's VFS); everything else forbids it.
#[allow(unsafe_code)]
mod wal_writes;

pub(crate) use postgres::{pg_readers, usable_after, PgConnections, PG_STATEMENT_CACHE};
pub use postgres::{Lease, PG_BATCH, PG_WRITE_LANES};
pub use sqlite::SqliteError;
pub(crate) use sqlite::{open_sqlite, open_sqlite_writer, sqlite_error, SqlitePool};

use crate::{Backend, StoreError};
use rusqlite::types::{Value, ValueRef};
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgConnection, PgRow, PgValueRef, Postgres};
use sqlx::{TypeInfo as _, ValueRef as _};
use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::Arc;

/// A connection to the store's database: a SQLite connection owned by this thread of
/// work, or a PostgreSQL connection lent to this work, possibly inside a transaction.
pub struct Conn(Inner);

enum Inner {
    Sqlite(rusqlite::Connection),
    Postgres(Lease),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Conn").field(&self.backend()).finish()
    }
}

impl Conn {
    pub(crate) fn sqlite(conn: rusqlite::Connection) -> Self {
        Self(Inner::Sqlite(conn))
    }

    pub(crate) fn postgres(lease: Lease) -> Self {
        Self(Inner::Postgres(lease))
    }

    /// The SQLite connection back, to return it to its pool.
    pub(crate) fn into_sqlite(self) -> Option<rusqlite::Connection> {
        match self.0 {
            Inner::Sqlite(c) => Some(c),
            _ => None,
        }
    }

    /// The work on this PostgreSQL connection ended, and left it as it found it: it
    /// may serve other work ([`Lease`]).
    pub(crate) fn keep(&mut self) {
        if let Inner::Postgres(lease) = &mut self.0 {
            lease.keep();
        }
    }

    /// The work failed on this PostgreSQL connection, or left it inside a transaction:
    /// it is closed once dropped.
    pub(crate) fn discard(&mut self) {
        if let Inner::Postgres(lease) = &mut self.0 {
            lease.discard();
        }
    }

    /// [`Conn::keep`] when the work's `result` leaves the connection usable, else discard.
    pub(crate) fn keep_after<T>(&mut self, result: &Result<T, StoreError>) {
        if result.as_ref().err().is_none_or(usable_after) {
            self.keep();
        } else {
            self.discard();
        }
    }

    pub fn backend(&self) -> Backend {
        match self.0 {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs `sql`, one or more statements without parameters and without results
    /// (transaction control, pragmas).
    pub async fn execute_batch(&mut self, sql: &str) -> Result<(), StoreError> {
        let engine = self.engine()?;
        match engine {
            Engine::Sqlite(c) => c.execute_batch(sql).map_err(sqlite_error),
            Engine::Postgres(c) => Ok(sqlx::Executor::execute(c, sql).await.map(drop)?),
        }
    }

    fn engine(&mut self) -> Result<Engine<'_>, StoreError> {
        match &mut self.0 {
            Inner::Sqlite(c) => Ok(Engine::Sqlite(c)),
            Inner::Postgres(lease) => lease.conn().map(Engine::Postgres).ok_or(StoreError::Closed),
        }
    }
}

/// The connection to run a statement on.
enum Engine<'c> {
    Sqlite(&'c rusqlite::Connection),
    Postgres(&'c mut PgConnection),
}

/// A parameter value. `Null` keeps its type: PostgreSQL must know what a NULL is.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Null(Kind),
    Int(i64),
    Int32(i32),
    Text(String),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Int32,
    Text,
    Bool,
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
    bool => Bool, |v| Param::Bool(v);
    String => Text, |v| Param::Text(v);
    &str => Text, |v| Param::Text(v.to_string());
    &String => Text, |v| Param::Text(v.clone());
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

/// A column value that can be read into a Rust value, on either engine. Integers are
/// read from a column of any integer width, as SQLite has only one.
pub trait Decode: Sized {
    fn from_sqlite(value: ValueRef<'_>) -> Result<Self, String>;
    /// From a PostgreSQL value that is not NULL.
    fn from_pg(value: PgValueRef<'_>) -> Result<Self, BoxDynError>;
    /// A NULL: an error, but for `Option`.
    fn from_null() -> Result<Self, BoxDynError> {
        Err("unexpected NULL".into())
    }
}

/// A PostgreSQL integer of any width.
fn pg_integer(v: PgValueRef<'_>) -> Result<i64, BoxDynError> {
    let width = match v.type_info().name() {
        "INT8" => 8,
        "INT4" => 4,
        "INT2" => 2,
        other => return Err(format!("expected an integer, found {other}").into()),
    };
    match width {
        8 => <i64 as sqlx::Decode<Postgres>>::decode(v),
        4 => <i32 as sqlx::Decode<Postgres>>::decode(v).map(i64::from),
        _ => <i16 as sqlx::Decode<Postgres>>::decode(v).map(i64::from),
    }
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
    fn from_pg(v: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        pg_integer(v)
    }
}

impl Decode for i32 {
    fn from_sqlite(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Integer(i) => i32::try_from(i).map_err(|_| format!("{i} does not fit a 32-bit integer")),
            other => Err(mismatch("an integer", other)),
        }
    }
    fn from_pg(v: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        let i = pg_integer(v)?;
        i32::try_from(i).map_err(|_| format!("{i} does not fit a 32-bit integer").into())
    }
}

impl Decode for bool {
    fn from_sqlite(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Integer(i) => Ok(i != 0),
            other => Err(mismatch("a boolean", other)),
        }
    }
    fn from_pg(v: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        if v.type_info().name() != "BOOL" {
            return Err(format!("expected a boolean, found {}", v.type_info().name()).into());
        }
        <bool as sqlx::Decode<Postgres>>::decode(v)
    }
}

impl Decode for String {
    fn from_sqlite(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Text(t) => String::from_utf8(t.to_vec()).map_err(|e| e.to_string()),
            other => Err(mismatch("text", other)),
        }
    }
    fn from_pg(v: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        if !matches!(v.type_info().name(), "TEXT" | "VARCHAR" | "BPCHAR" | "NAME") {
            return Err(format!("expected text, found {}", v.type_info().name()).into());
        }
        <String as sqlx::Decode<Postgres>>::decode(v)
    }
}

impl<T: Decode> Decode for Option<T> {
    fn from_sqlite(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Null => Ok(None),
            v => T::from_sqlite(v).map(Some),
        }
    }
    fn from_pg(v: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        T::from_pg(v).map(Some)
    }
    fn from_null() -> Result<Self, BoxDynError> {
        Ok(None)
    }
}

/// One result row.
pub struct Row(RowInner);

enum RowInner {
    Sqlite {
        columns: Arc<[String]>,
        values: Box<[Value]>,
    },
    Pg(PgRow),
}

impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            RowInner::Sqlite { columns, values } => f.debug_map().entries(columns.iter().zip(values.iter())).finish(),
            RowInner::Pg(row) => f.debug_tuple("Row").field(&sqlx::Row::len(row)).finish(),
        }
    }
}

/// How a column is named when read: by name or by 0-based position.
pub trait ColumnIndex: Copy + std::fmt::Display + sqlx::ColumnIndex<PgRow> {
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
            RowInner::Pg(row) => {
                let value = sqlx::Row::try_get_raw(row, index)?;
                let decoded = if value.is_null() {
                    T::from_null()
                } else {
                    T::from_pg(value)
                };
                decoded.map_err(|source| {
                    StoreError::Database(sqlx::Error::ColumnDecode {
                        index: index.to_string(),
                        source,
                    })
                })
            }
            RowInner::Sqlite { columns, values } => {
                let at = index
                    .position(columns)
                    .ok_or_else(|| StoreError::Database(sqlx::Error::ColumnNotFound(index.to_string())))?;
                let value = values
                    .get(at)
                    .ok_or_else(|| StoreError::Database(sqlx::Error::ColumnNotFound(index.to_string())))?;
                T::from_sqlite(ValueRef::from(value)).map_err(|e| {
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
        let any = match conn.engine()? {
            Engine::Sqlite(c) => return sqlite::run(c, &self.sql, &self.params, want),
            Engine::Postgres(c) => c,
        };
        let mut q = sqlx::query::<Postgres>(&self.sql);
        for p in self.params {
            q = match p {
                Param::Null(kind) => match kind {
                    Kind::Int => q.bind(None::<i64>),
                    Kind::Int32 => q.bind(None::<i32>),
                    Kind::Text => q.bind(None::<String>),
                    Kind::Bool => q.bind(None::<bool>),
                },
                Param::Int(v) => q.bind(v),
                Param::Int32(v) => q.bind(v),
                Param::Text(v) => q.bind(v),
                Param::Bool(v) => q.bind(v),
            };
        }
        Ok(match want {
            Want::None => (Vec::new(), q.execute(any).await?.rows_affected()),
            Want::One => (
                q.fetch_optional(any)
                    .await?
                    .map(|r| Row(RowInner::Pg(r)))
                    .into_iter()
                    .collect(),
                0,
            ),
            Want::All => (
                q.fetch_all(any)
                    .await?
                    .into_iter()
                    .map(|r| Row(RowInner::Pg(r)))
                    .collect(),
                0,
            ),
        })
    }
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
