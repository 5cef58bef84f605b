use roster_core::plan::{Refusal, RefusalKind};
use roster_core::DomainError;

/// What can go wrong in the store. `NotFound`, `Conflict` and `Rule` are the caller's
/// fault and carry a plain message; `Database`, `Migration` and `Closed` are ours.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{kind} '{ident}' not found")]
    NotFound { kind: &'static str, ident: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error(transparent)]
    Rule(#[from] DomainError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("database: {0}")]
    Database(sqlx::Error),
    #[error("the store is shutting down")]
    Closed,
    /// The database cannot be reached or gave up on the statement for a reason that
    /// passes (it restarts, a connection broke, a deadlock was broken): nothing was
    /// changed, and the request may be sent again (503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The connection broke while the transaction was committing: PostgreSQL may have
    /// committed it or not, and there is no asking (503; read before sending it again).
    #[error("commit outcome unknown: {0}")]
    InDoubt(String),
    /// A provisioning plan refused the change (the core's decision, passed through).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The row changed since it was read: the version the caller built on is gone (a
    /// concurrent write won; S9).
    #[error("the resource changed meanwhile; read it again")]
    Stale,
    /// A SCIM filter that cannot be run on the store (RFC 7644 `invalidFilter`).
    #[error("{0}")]
    InvalidFilter(String),
    /// A caller handed the store something it cannot apply (a bug, not the request's
    /// fault).
    #[error("cannot apply: {0}")]
    Misuse(&'static str),
}

impl StoreError {
    pub fn not_found(kind: &'static str, ident: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            ident: ident.into(),
        }
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }
    pub fn refused(kind: RefusalKind, detail: impl Into<String>) -> Self {
        Self::Refused(Refusal::new(kind, detail))
    }
    /// A value read from the database that does not parse: our data is corrupt, not the
    /// request.
    pub fn corrupt(e: DomainError) -> Self {
        Self::Database(sqlx::Error::Decode(Box::new(e)))
    }
    /// A rule refuses a valid change (409-like).
    pub fn rule(code: &'static str, message: impl Into<String>) -> Self {
        Self::Rule(DomainError::conflict(code, message))
    }
    /// A value that is not valid in itself (400-like).
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::Rule(DomainError::invalid(code, message))
    }
}

/// A stored value that does not parse: our data is corrupt, not the request (500).
pub(crate) fn corrupt(e: DomainError) -> StoreError {
    StoreError::corrupt(e)
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        // Two concurrent writers racing for the same unique key (PostgreSQL runs writes
        // in parallel): the loser gets a conflict, as if it had checked first.
        if let Some(db) = e.as_database_error() {
            if db.is_unique_violation() {
                return Self::conflict("conflict", "an object with this name or key already exists");
            }
        }
        if passing(&e) {
            return Self::Unavailable(e.to_string());
        }
        Self::Database(e)
    }
}

/// Whether `e` says the database is (for now) out of reach rather than that the
/// statement is wrong: the connection or the pool failed, the server is shutting down
/// or starting (SQLSTATE class 08 but a protocol violation, 57P01–57P03), it closed an
/// idle connection (57P05, 25P03), cancelled the statement (57014), broke a deadlock
/// or a serialization conflict by cancelling this transaction (40P01, 40001), or has no
/// room for another session (53300).
fn passing(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            (code.starts_with("08") && code != "08P01")
                || matches!(
                    &*code,
                    "57P01" | "57P02" | "57P03" | "57P05" | "57014" | "25P03" | "40P01" | "40001" | "53300"
                )
        }),
        _ => false,
    }
}
