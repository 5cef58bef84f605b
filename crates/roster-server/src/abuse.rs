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
    pub fn new(sso_per_minute: u32, auth_failures_per_minute: u32) -> Self {
        Self {
            sso: RateLimiter::keyed(per_minute(sso_per_minute)),
            auth_failures: RateLimiter::keyed(per_minute(auth_failures_per_minute)),
            checks: AtomicU64::new(0),
        }
    }

    fn check(&self, limiter: &DefaultKeyedRateLimiter<IpAddr>, client: IpAddr) -> Result<(), TooMany> {
        // Every so often forget the clients whose buckets are full again, so that the
        // map stays as small as the clients that are active.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.sso.retain_recent();
            self.auth_failures.retain_recent();
        }
        limiter.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            TooMany {
                retry_after_secs: wait.as_secs().max(1),
            }
        })
    }

    /// A sign-in request from `client`.
    pub fn sso_request(&self, client: IpAddr) -> Result<(), TooMany> {
        self.check(&self.sso, client)
    }

    /// A failed token authentication from `client`: over the limit, it is answered 429
    /// rather than 401.
    pub fn auth_failed(&self, client: IpAddr) -> Result<(), TooMany> {
        self.check(&self.auth_failures, client)
    }
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
        let limits = Limits::new(2, 1);
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        assert!(limits.sso_request(a).is_ok());
        assert!(limits.sso_request(a).is_ok());
        let refused = limits.sso_request(a).unwrap_err();
        assert!(refused.retry_after_secs >= 1 && refused.retry_after_secs <= 60);
        assert!(limits.sso_request(b).is_ok());
        assert!(limits.auth_failed(a).is_ok());
        assert!(limits.auth_failed(a).is_err());
    }
}
