//! Roster's directory domain: the value types every other crate speaks, and the
//! provisioning rules of `provisioning.md` as pure functions (no IO, no clock reads).
//!
//! - [`types`]: parsed, validated identifiers (`Email`, `Name`, `DomainName`, `Role`, …).
//!   Wire data becomes one of these once, at the edge; inside, the type guarantees
//!   validity and case-insensitive comparison where the spec asks for it.
//! - [`rules`]: decisions that depend on directory state (seats, last owner, usernames).
//! - [`signin`]: what an IdP sent, read into typed sign-in facts (A1–A5).
//! - [`state`]: the slice of the directory a sign-in depends on, as plain data.
//! - [`plan`]: the sign-in planner (J1–J10, G1–G3, T1): facts + state → a `Plan` of
//!   changes, each with the rule that caused it.

// Hostile input must never panic; tests may unwrap.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]

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
    pub code: &'static str,
    pub message: String,
}

impl DomainError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}
