//! SCIM errors as the protocol names them (RFC 7644 §3.12): what went wrong, with its
//! `scimType` where the RFC defines one, and a detail. Which HTTP status each kind is
//! answered with, and the error body itself, are the server's to write.

/// What kind of SCIM error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidFilter,
    InvalidPath,
    InvalidValue,
    InvalidSyntax,
    NoTarget,
    Mutability,
    Uniqueness,
    /// The resource (or endpoint) does not exist.
    NotFound,
    /// `If-Match` names a version the resource no longer has (RFC 7644 §3.14).
    PreconditionFailed,
}

impl ErrorKind {
    /// The `scimType` of this kind, where RFC 7644 §3.12 defines one.
    pub fn scim_type(self) -> Option<&'static str> {
        match self {
            Self::InvalidFilter => Some("invalidFilter"),
            Self::InvalidPath => Some("invalidPath"),
            Self::InvalidValue => Some("invalidValue"),
            Self::InvalidSyntax => Some("invalidSyntax"),
            Self::NoTarget => Some("noTarget"),
            Self::Mutability => Some("mutability"),
            Self::Uniqueness => Some("uniqueness"),
            Self::NotFound | Self::PreconditionFailed => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct ScimError {
    pub kind: ErrorKind,
    pub detail: String,
}

impl ScimError {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidFilter, detail)
    }
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidPath, detail)
    }
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidValue, detail)
    }
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidSyntax, detail)
    }
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::NoTarget, detail)
    }
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Mutability, detail)
    }
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Uniqueness, detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, detail)
    }
    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::PreconditionFailed, detail)
    }
    /// The `scimType` of this error, where RFC 7644 §3.12 defines one.
    pub fn scim_type(&self) -> Option<&'static str> {
        self.kind.scim_type()
    }
}
