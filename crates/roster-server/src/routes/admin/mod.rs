//! The admin API, `/api/v1` (interfaces.md "Admin API"). Every handler takes an
//! [`Admin`](crate::auth::Admin); objects are addressed by id or by name.

mod api_keys;
mod apps;
mod audit;
mod companies;
pub(crate) mod connection_settings;
mod connections;
mod directory;
mod domains;
mod errors;
mod events;
mod invitations;
mod members;
mod organizations;
mod provisioning;
mod saml_keys;
mod setup_links;
mod signing_keys;
mod teams;
mod tokens;
mod users;
mod webhooks;

use crate::state::AppState;
use serde::{Deserialize, Deserializer};
use utoipa_axum::router::OpenApiRouter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(organizations::router())
        .merge(teams::router())
        .merge(members::router())
        .merge(invitations::router())
        .merge(companies::router())
        .merge(domains::router())
        .merge(connections::router())
        .merge(tokens::router())
        .merge(users::router())
        .merge(audit::router())
        .merge(errors::router())
        .merge(events::router())
        .merge(directory::router())
        .merge(provisioning::router())
        .merge(saml_keys::router())
        .merge(setup_links::router())
        .merge(apps::router())
        .merge(api_keys::router())
        .merge(signing_keys::router())
        .merge(webhooks::router())
}

/// For PATCH bodies: tells an absent field (`None`) from an explicit `null`
/// (`Some(None)`).
pub(crate) fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Page sizes of list endpoints: default and ceiling.
pub(crate) fn page_limit(requested: Option<u32>, default: u32, max: u32) -> i64 {
    i64::from(requested.unwrap_or(default).clamp(1, max))
}
