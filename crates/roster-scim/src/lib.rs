//! SCIM 2.0 (RFC 7643/7644) as Roster speaks it, without IO.
//!
//! - [`path`]: attribute paths (`name.givenName`, `urn:…:User:dockerRole`), parsed with the
//!   schema URN split off *before* the dots (the URN itself contains `2.0`).
//! - [`filter`]: the complete filter grammar of RFC 7644 §3.4.2.2 into an AST, with a
//!   length and a depth bound, attribute names case-insensitive. The store translates the
//!   AST to SQL; nothing here evaluates filters against data.
//! - [`patch`]: PATCH requests (RFC 7644 §3.5.2) with the forms Okta and Microsoft Entra ID
//!   send, parsed into operations and applied to a resource document.
//! - [`error`]: the SCIM error type and its JSON body.

pub mod error;
pub mod filter;
mod matching;
pub mod patch;
pub mod path;
pub mod schema;
pub mod stored;

pub use error::{ErrorKind, ScimError};

/// The schema URNs Roster serves.
pub mod urn {
    pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
    pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    pub const DOCKER_USER: &str = "urn:ietf:params:scim:schemas:extension:docker:2.0:User";
    pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
    pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
    pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
}
