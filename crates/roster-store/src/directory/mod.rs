//! Companies, organizations, teams, users, memberships and invitations (spec §1).
//!
//! Objects are addressed by id (a UUID) or by name; names compare case-insensitively
//! through their `*_key` columns.

pub mod companies;
pub mod deprovision;
pub mod invitations;
pub mod members;
pub mod organizations;
pub mod teams;
pub mod users;
pub mod view;

/// True when `ident` is a UUID, i.e. addresses an object by id rather than by name.
pub(crate) fn is_id(ident: &str) -> bool {
    uuid::Uuid::parse_str(ident).is_ok()
}
