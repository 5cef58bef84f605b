//! The orchestration layer: every provisioning write runs here as **load** the state the
//! rules read (roster-store) → **plan** (roster-core, pure) → **apply** the plan with its
//! audit events (roster-store), inside the one transaction the caller's store write
//! gives it. Handlers translate wire ↔ facts and call these; the store decides nothing;
//! the core does no IO.
//!
//! - [`sign_in`]: an SSO sign-in (J, G1–G3, T1).
//! - [`oauth2`]: what the OpenID Provider grants apps (codes, tokens, claims).
//! - [`scim_users`]: SCIM Users (S1, S3–S6).
//! - [`scim_groups`]: SCIM Groups as teams (G4, G5).

pub mod apps;
pub mod connections;
pub mod domains;
pub mod explain;
pub mod oauth2;
pub mod preview;
pub mod scim_groups;
pub mod scim_users;
pub mod sign_in;
pub mod webhooks;

use roster_core::plan::RefusalKind;
use roster_store::StoreError;
use serde_json::{Map, Value};

/// A resource's required name (`userName`, a Group's `displayName`): 1 to 256
/// characters once trimmed.
pub(crate) fn required_name(doc: &Map<String, Value>, key: &str) -> Result<String, StoreError> {
    match doc.get(key).and_then(Value::as_str).map(str::trim) {
        Some(v) if !v.is_empty() && v.chars().count() <= 256 => Ok(v.to_string()),
        _ => Err(StoreError::refused(
            RefusalKind::InvalidValue,
            format!("{key} is required: 1 to 256 characters"),
        )),
    }
}
