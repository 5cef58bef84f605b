//! Runtime configuration, shared by the CLI and the test harness.

use std::net::SocketAddr;

#[derive(Debug, Clone)]
pub struct Config {
    /// Database URL: `sqlite://PATH` or `postgres://…`.
    pub database_url: String,
    /// External base URL (no trailing slash) used in metadata, ACS and SCIM URLs.
    pub public_url: String,
    /// Bootstrap admin token (`ROSTER_ADMIN_TOKEN`).
    pub admin_token: Option<String>,
    /// DNS server for domain verification; `None` uses the system resolver.
    pub dns_resolver: Option<SocketAddr>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Longest time one request may take.
    pub request_timeout_secs: u64,
    /// SQLite: writes per group commit (1 = commit each write on its own).
    pub sqlite_batch: usize,
    /// Origins (`https://app.example`) a sign-in may return to, besides this server's.
    pub return_origins: Vec<String>,
}

impl Config {
    pub const DEFAULT_DATABASE: &'static str = "sqlite://./roster-data/roster.db";

    pub fn new(database_url: impl Into<String>, public_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            public_url: public_url.into().trim_end_matches('/').to_string(),
            admin_token: None,
            dns_resolver: None,
            max_body_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            sqlite_batch: 256,
            return_origins: Vec::new(),
        }
    }
}
