//! Roster's directory domain: the value types every other crate speaks, and the
//! provisioning rules of `provisioning.md` as pure functions (no IO, no clock reads).
//!
//! - [`types`]: parsed, validated identifiers (`Email`, `Name`, `DomainName`, `Role`, …).
//!   Wire data becomes one of these once, at the edge; inside, the type guarantees
//!   validity and case-insensitive comparison where the spec asks for it.
//! - [`rules`]: decisions that depend on directory state (seats, last owner, usernames).
//! - [`signin`]: what an IdP sent, read into typed sign-in facts (A1–A5).
//! - [`state`]: the slice of the directory a sign-in depends on, as plain data.
//! - [`plan`]: what a planner decides, as typed data: a `Plan` of changes, each with
//!   the rule that caused it; a sign-in is `Allowed` or `Denied`.
//! - [`jit`]: the sign-in planner (J1–J10, G1–G3, T1).
//! - [`scim_plan`]: the SCIM user planner (S4–S6).
//! - [`group_plan`]: SCIM Groups as teams (G4, G5).

pub mod group_plan;
pub mod jit;
mod model;
pub mod plan;
pub mod rules;
pub mod scim_plan;
pub mod signin;
pub mod state;
mod targets;
pub mod types;

pub use types::*;

/// A rule or validation failure, with a stable machine code and a plain message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DomainError {
    pub kind: DomainErrorKind,
    pub code: &'static str,
    pub message: String,
}

/// Whose fault a [`DomainError`] is: each protocol answers each kind its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainErrorKind {
    /// A value that is not valid in itself (a malformed email, a name too long).
    Invalid,
    /// A valid change that a rule refuses given the directory's state (no seat left,
    /// the last owner).
    Conflict,
}

impl DomainError {
    /// A value that is not valid in itself.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind: DomainErrorKind::Invalid,
            code,
            message: message.into(),
        }
    }
    /// A valid change that a rule refuses.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind: DomainErrorKind::Conflict,
            code,
            message: message.into(),
        }
    }
}
