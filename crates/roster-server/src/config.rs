//! Runtime configuration, shared by the CLI and the test harness.

use std::net::SocketAddr;

/// The shortest admin token an operator may choose.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 32;

#[derive(Clone)]
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
    /// PostgreSQL: writes per transaction (1 = each write in its own).
    pub pg_batch: usize,
    /// PostgreSQL: batches of writes in flight at once.
    pub pg_write_lanes: usize,
    /// SQLite: how soon commits are copied from the log into the database, and the
    /// log's length past which it starts over (the defaults suit every deployment
    /// measured; tests shorten them to exercise both often).
    pub sqlite_checkpoint: roster_store::CheckpointPolicy,
    /// Origins (`https://app.example`) a sign-in may return to, besides this server's.
    pub return_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` names the client (`--trusted-proxy`); from any
    /// other peer the header is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Sign-in requests (`/sso/…`) one client may make per minute.
    pub sso_requests_per_minute: u32,
    /// Sign-in requests one connection may receive per minute, from all clients.
    pub sso_requests_per_connection_per_minute: u32,
    /// Failed token authentications (admin API, SCIM) one client may make per minute.
    pub auth_failures_per_minute: u32,
    /// A session unused this long ends (T1: 30 days without use).
    pub session_idle_minutes: u32,
    /// How many days the events feed serves; an older cursor is answered 410.
    pub events_retention_days: u32,
    /// Webhooks may target loopback and private addresses (tests, one machine).
    pub webhook_allow_private: bool,
    /// The first wait after a failed webhook delivery (ms); it doubles, up to an hour.
    pub webhook_backoff_ms: u64,
    /// An endpoint failing this many hours without a success is turned off.
    pub webhook_disable_after_hours: u32,
    /// Requests served at once; past it, 503 with Retry-After (health checks excepted).
    pub max_in_flight: usize,
    /// The key secrets at rest are sealed with (base64 of 32 bytes); `None`: the key file
    /// beside the SQLite database (or `./roster-data/`), made on first start.
    pub secret_key: Option<String>,
    /// The key secrets were sealed with before `secret_key` (key rotation): what it
    /// sealed is re-sealed with `secret_key` at start.
    pub previous_secret_key: Option<String>,
}

/// Never prints a secret: the admin token and the database URL's password are redacted.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("public_url", &self.public_url)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<redacted>"))
            .field("dns_resolver", &self.dns_resolver)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("sqlite_batch", &self.sqlite_batch)
            .field("pg_batch", &self.pg_batch)
            .field("pg_write_lanes", &self.pg_write_lanes)
            .field("sqlite_checkpoint", &self.sqlite_checkpoint)
            .field("return_origins", &self.return_origins)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("sso_requests_per_minute", &self.sso_requests_per_minute)
            .field(
                "sso_requests_per_connection_per_minute",
                &self.sso_requests_per_connection_per_minute,
            )
            .field("auth_failures_per_minute", &self.auth_failures_per_minute)
            .field("session_idle_minutes", &self.session_idle_minutes)
            .field("events_retention_days", &self.events_retention_days)
            .field("webhook_allow_private", &self.webhook_allow_private)
            .field("webhook_backoff_ms", &self.webhook_backoff_ms)
            .field("webhook_disable_after_hours", &self.webhook_disable_after_hours)
            .field("max_in_flight", &self.max_in_flight)
            .field("secret_key", &self.secret_key.as_ref().map(|_| "<redacted>"))
            .field(
                "previous_secret_key",
                &self.previous_secret_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// `scheme://user:password@host/…` with the password replaced.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("redacted"));
            u.to_string()
        }
        _ => url.to_string(),
    }
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
            pg_batch: roster_store::PG_BATCH,
            pg_write_lanes: roster_store::PG_WRITE_LANES,
            sqlite_checkpoint: roster_store::CheckpointPolicy::default(),
            return_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            sso_requests_per_minute: 600,
            sso_requests_per_connection_per_minute: 6000,
            auth_failures_per_minute: 30,
            session_idle_minutes: 30 * 24 * 60,
            events_retention_days: 30,
            webhook_allow_private: false,
            webhook_backoff_ms: 5_000,
            webhook_disable_after_hours: 72,
            max_in_flight: 1024,
            secret_key: None,
            previous_secret_key: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_a_secret() {
        let mut c = Config::new("postgres://roster:hunter2@db.internal/roster", "https://sso.example");
        c.admin_token = Some("a-very-long-admin-token-that-is-secret".into());
        let text = format!("{c:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("a-very-long-admin-token"),
            "{text}"
        );
        assert!(text.contains("redacted") && text.contains("db.internal"), "{text}");
    }
}
