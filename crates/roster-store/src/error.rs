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
    /// A SCIM request the directory refuses, in SCIM terms (RFC 7644 §3.12).
    #[error("{detail}")]
    Scim {
        status: u16,
        scim_type: Option<&'static str>,
        detail: String,
    },
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
    pub fn scim(e: roster_scim::ScimError) -> Self {
        Self::Scim {
            status: e.status,
            scim_type: e.scim_type,
            detail: e.detail,
        }
    }
    pub fn rule(code: &'static str, message: impl Into<String>) -> Self {
        Self::Rule(DomainError::new(code, message))
    }
}

/// A stored value that does not parse: our data is corrupt, not the request (500).
pub(crate) fn corrupt(e: DomainError) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(Box::new(e)))
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
        Self::Database(e)
    }
}
