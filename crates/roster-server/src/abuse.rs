//! Limits on what anyone can reach without a credential: sign-in requests (`/sso/…`)
//! per client, and failed token authentications (admin API, SCIM) per client. Over the
//! limit the answer is `429 Too Many Requests` with `Retry-After`.
//!
//! The client is the TCP peer, or, when the peer is a configured trusted proxy, the
//! nearest address in `X-Forwarded-For` that is not itself a trusted proxy: a client
//! cannot choose its own bucket by sending the header.
//!
//! A failed authentication counts; a valid token is never refused for the failures of
//! others from the same address (no lockout of a shared egress).

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

/// The client a request came from, as [`client_ip`] read it (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The client of a request whose TCP peer is `peer`.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    // Right to left: the addresses appended by our proxies come last.
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    forwarded
        .iter()
        .rev()
        .filter_map(|a| {
            a.parse::<IpAddr>()
                .ok()
                .or_else(|| a.parse::<SocketAddr>().ok().map(|s| s.ip()))
        })
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

pub struct Limits {
    sso: DefaultKeyedRateLimiter<IpAddr>,
    /// Sign-in requests per connection, whoever makes them: one connection's flood
    /// cannot take the server from the others.
    sso_connection: DefaultKeyedRateLimiter<String>,
    auth_failures: DefaultKeyedRateLimiter<IpAddr>,
    /// Checks since the limiters last forgot clients that went quiet.
    checks: AtomicU64,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

/// A limit was reached: when to come back.
#[derive(Debug, Clone, Copy)]
pub struct TooMany {
    pub retry_after_secs: u64,
}

impl IntoResponse for TooMany {
    fn into_response(self) -> Response {
        let mut resp = StatusCode::TOO_MANY_REQUESTS.into_response();
        if let Ok(v) = HeaderValue::from_str(&self.retry_after_secs.to_string()) {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        resp
    }
}

impl Limits {
    pub fn new(sso_per_minute: u32, sso_per_connection_per_minute: u32, auth_failures_per_minute: u32) -> Self {
        Self {
            sso: RateLimiter::keyed(per_minute(sso_per_minute)),
            sso_connection: RateLimiter::keyed(per_minute(sso_per_connection_per_minute)),
            auth_failures: RateLimiter::keyed(per_minute(auth_failures_per_minute)),
            checks: AtomicU64::new(0),
        }
    }

    fn check<K: std::hash::Hash + Eq + Clone>(
        &self,
        limiter: &DefaultKeyedRateLimiter<K>,
        key: &K,
    ) -> Result<(), TooMany> {
        // Every so often forget the clients whose buckets are full again, so that the
        // map stays as small as the clients that are active.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.sso.retain_recent();
            self.sso_connection.retain_recent();
            self.auth_failures.retain_recent();
        }
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            TooMany {
                retry_after_secs: wait.as_secs().max(1),
            }
        })
    }

    /// A sign-in request from `client` to `path` (`/sso/…`): held to the client's limit,
    /// then, when the path names a connection, to that connection's.
    pub fn sso_request(&self, client: IpAddr, path: &str) -> Result<(), TooMany> {
        self.check(&self.sso, &client)?;
        match connection_of(path) {
            Some(id) => self.check(&self.sso_connection, &id.to_owned()),
            None => Ok(()),
        }
    }

    /// A failed token authentication from `client`: over the limit, it is answered 429
    /// rather than 401.
    pub fn auth_failed(&self, client: IpAddr) -> Result<(), TooMany> {
        self.check(&self.auth_failures, &client)
    }
}

/// The connection id in a sign-in path `/sso/{saml|oidc}/{id}/…`; ids are UUIDs, so a
/// longer segment names none.
fn connection_of(path: &str) -> Option<&str> {
    let rest = path
        .strip_prefix("/sso/saml/")
        .or_else(|| path.strip_prefix("/sso/oidc/"))?;
    let id = rest.split('/').next()?;
    (!id.is_empty() && id.len() <= 64).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn x_forwarded_for_counts_only_from_a_trusted_proxy() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.7, 10.0.0.2".parse().unwrap());
        // From an untrusted peer the header is ignored.
        assert_eq!(client_ip(ip("198.51.100.1"), &h, &[]), ip("198.51.100.1"));
        // Behind two trusted proxies, the nearest untrusted address is the client.
        let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("203.0.113.7"));
        // A client prepending its own entry cannot pick it.
        h.insert("x-forwarded-for", "1.2.3.4, 203.0.113.7".parse().unwrap());
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("203.0.113.7"));
        // Nothing usable: the peer.
        h.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("10.0.0.1"));
    }

    #[test]
    fn a_client_over_its_quota_waits_others_do_not() {
        let limits = Limits::new(2, 100, 1);
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        assert!(limits.sso_request(a, "/sso/start").is_ok());
        assert!(limits.sso_request(a, "/sso/start").is_ok());
        let refused = limits.sso_request(a, "/sso/start").unwrap_err();
        assert!(refused.retry_after_secs >= 1 && refused.retry_after_secs <= 60);
        assert!(limits.sso_request(b, "/sso/start").is_ok());
        assert!(limits.auth_failed(a).is_ok());
        assert!(limits.auth_failed(a).is_err());
    }

    #[test]
    fn a_connection_over_its_quota_waits_others_do_not() {
        let limits = Limits::new(100, 2, 1);
        let clients = [ip("192.0.2.1"), ip("192.0.2.2"), ip("192.0.2.3")];
        // Many clients, one connection: its quota holds whoever asks.
        assert!(limits.sso_request(clients[0], "/sso/saml/c1/login").is_ok());
        assert!(limits.sso_request(clients[1], "/sso/saml/c1/acs").is_ok());
        assert!(limits.sso_request(clients[2], "/sso/saml/c1/login").is_err());
        // Another connection, and paths that name none, are not held to it.
        assert!(limits.sso_request(clients[2], "/sso/oidc/c2/login").is_ok());
        assert!(limits.sso_request(clients[2], "/sso/start").is_ok());
    }

    #[test]
    fn sign_in_paths_name_their_connection() {
        assert_eq!(connection_of("/sso/saml/abc/acs"), Some("abc"));
        assert_eq!(connection_of("/sso/oidc/abc/callback"), Some("abc"));
        assert_eq!(connection_of("/sso/saml/abc"), Some("abc"));
        assert_eq!(connection_of("/sso/start"), None);
        assert_eq!(connection_of("/sso/saml//acs"), None);
        assert_eq!(connection_of(&format!("/sso/saml/{}/acs", "x".repeat(65))), None);
    }
}
