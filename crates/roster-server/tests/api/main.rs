//! Integration tests: the real server over HTTP, on SQLite and on PostgreSQL.
//! One test binary for all of them (one link instead of many).

// Test code: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod helpers;

mod abuse;
mod admin_auth;
mod api_keys;
mod apps;
mod companies_domains;
mod connections;
mod console;
mod console_apps;
mod console_browser;
mod console_connections;
mod console_members;
mod console_playground;
mod directory;
mod durability;
mod event_delivery;
mod events;
mod example_app;
mod hostile;
mod members;
mod oauth2;
mod oauth2_attacks;
mod oauth2_sessions;
mod oidc;
mod openid_client;
mod operations;
mod organizations;
mod provisioning;
mod saml;
mod saml_attacks;
mod saml_scim;
mod scim;
mod scim_groups;
mod scim_hardening;
mod scim_large_groups;
mod scim_provisioning;
mod sessions;
mod teams;
mod two_nodes;
mod webhooks;
