//! The orchestration layer: every provisioning write runs here as **load** the state the
//! rules read (roster-store) → **plan** (roster-core, pure) → **apply** the plan with its
//! audit events (roster-store), inside the one transaction the caller's store write
//! gives it. Handlers translate wire ↔ facts and call these; the store decides nothing;
//! the core does no IO.
//!
//! - [`sign_in`]: an SSO sign-in (J, G1–G3, T1).
//! - [`scim_users`]: SCIM Users (S1, S3–S6).
//! - [`scim_groups`]: SCIM Groups as teams (G4, G5).

pub mod scim_groups;
pub mod scim_users;
pub mod sign_in;
