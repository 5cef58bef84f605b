//! The webhook sender: every endpoint follows the events feed from its own position and
//! gets the events it asked for, in order, each at least once, signed as the Standard
//! Webhooks specification says (`webhook-id`, `webhook-timestamp`, `webhook-signature:
//! v1,<base64 HMAC-SHA256>`). A failed delivery is retried with waits doubling from
//! `--webhook-backoff-ms` to an hour; later events wait behind it. Each endpoint is
//! leased while it is served and runs in its own task, so a slow or failing endpoint
//! delays nobody else, and never the requests that caused the events.

use crate::events;
use crate::state::AppState;
use aws_lc_rs::hmac;
use base64::Engine;
use roster_store::audit::{self, FeedQuery, Position};
use roster_store::webhooks::{self, Delivery, Run, Webhook};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How often due endpoints are looked for.
const POLL: Duration = Duration::from_millis(250);
/// How long an endpoint is leased to the task serving it: extended each time progress
/// is recorded, and before an attempt (a name lookup and a request, each at most
/// [`TIMEOUT`]) that could outlast it; a node that dies holds its endpoints no longer
/// than this.
const LEASE_MS: i64 = 30_000;
/// Events read at once for one endpoint.
const BATCH: i64 = 50;
const TIMEOUT: Duration = Duration::from_secs(10);
/// The most of an endpoint's answer kept in the delivery log.
const EXCERPT: usize = 500;

const STD: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A new endpoint secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    format!("whsec_{}", STD.encode(key))
}

/// The `webhook-signature` value for message `id` sent at `timestamp` (seconds) with
/// `body`, signed with `secret` (`whsec_…`); `None` for a secret that does not read.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = STD.decode(secret.strip_prefix("whsec_")?).ok()?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(format!("{id}.{timestamp}.").as_bytes());
    ctx.update(body);
    Some(format!("v1,{}", STD.encode(ctx.sign().as_ref())))
}

/// The wait after `attempts` failed attempts at one event.
pub fn backoff_ms(base_ms: u64, attempts: i32) -> i64 {
    let exp = u32::try_from(attempts.clamp(1, 30) - 1).unwrap_or(0);
    let base = i64::try_from(base_ms.max(1)).unwrap_or(5_000);
    base.saturating_mul(1i64 << exp.min(40)).min(60 * 60_000)
}

/// Whether `ip` is one webhooks may not reach unless the operator allows it: loopback,
/// private, link-local, shared (CGNAT), benchmarking, reserved, multicast, and the IPv6
/// forms that lead to IPv4 ones (mapped, compatible, NAT64, 6to4).
fn private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let first = s.first().copied().unwrap_or(0);
            let embedded = |hi: u16, lo: u16| {
                private(IpAddr::V4(std::net::Ipv4Addr::from(
                    (u32::from(hi) << 16) | u32::from(lo),
                )))
            };
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || first & 0xfe00 == 0xfc00
                || first & 0xffc0 == 0xfe80
                || first & 0xffc0 == 0xfec0
                || v6.to_ipv4_mapped().is_some_and(|v4| private(IpAddr::V4(v4)))
                // ::a.b.c.d (IPv4-compatible) and 64:ff9b::/96 (NAT64)
                || (s[..6] == [0, 0, 0, 0, 0, 0] && embedded(s[6], s[7]))
                || (s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] && embedded(s[6], s[7]))
                // 2002::/16 (6to4) carries an IPv4 address in its next 32 bits
                || (first == 0x2002 && embedded(s[1], s[2]))
        }
    }
}

/// Checks an endpoint URL when it is registered: http(s), no credentials, and, unless
/// `allow_private`, not a loopback or private address or `localhost`.
pub fn check_url(raw: &str, allow_private: bool) -> Result<(), String> {
    if raw.len() > 2048 {
        return Err("url: at most 2048 characters".into());
    }
    let u = url::Url::parse(raw).map_err(|_| format!("url '{raw}' is not an absolute URL"))?;
    if !matches!(u.scheme(), "https" | "http") || !u.username().is_empty() || u.password().is_some() {
        return Err("url must be http or https, without credentials".into());
    }
    if allow_private {
        return Ok(());
    }
    match u.host() {
        Some(url::Host::Ipv4(ip)) if private(IpAddr::V4(ip)) => Err(private_refused()),
        Some(url::Host::Ipv6(ip)) if private(IpAddr::V6(ip)) => Err(private_refused()),
        Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") || d.ends_with(".localhost") => {
            Err(private_refused())
        }
        None => Err("url has no host".into()),
        _ => Ok(()),
    }
}

fn private_refused() -> String {
    "url points at a loopback or private address; the operator may allow that with --webhook-allow-private".into()
}

/// Runs the sender until `stop` fires.
pub async fn run(state: AppState, mut stop: tokio::sync::broadcast::Receiver<()>) {
    let http = match client_builder().build() {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "webhooks cannot be sent: no HTTP client");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.recv() => break,
        }
        let now = state.now();
        match state
            .store
            .read(move |db| Box::pin(async move { webhooks::any_due(db, now).await }))
            .await
        {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "webhooks: could not read the endpoints");
                continue;
            }
        }
        let due = state
            .store
            .write(move |db| Box::pin(async move { webhooks::lease_due(db, now, LEASE_MS, 100).await }))
            .await;
        match due {
            Ok(hooks) => {
                for w in hooks {
                    let (state, http) = (state.clone(), http.clone());
                    tokio::spawn(async move {
                        let id = w.id.clone();
                        let token = w.lease_token.clone().unwrap_or_default();
                        if let Err(e) = serve(&state, &http, w).await {
                            tracing::warn!(webhook = %id, error = %e, "webhook: could not record a delivery");
                        }
                        let released = state
                            .store
                            .write(move |db| Box::pin(async move { webhooks::release(db, &id, &token).await }))
                            .await;
                        if let Err(e) = released {
                            tracing::warn!(error = %e, "webhook: could not end a lease");
                        }
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "webhooks: could not read the endpoints"),
        }
    }
}

/// Delivers what follows endpoint `w`'s position, in order, until it is caught up or an
/// attempt fails. What a batch of events came to is recorded in one write (its log,
/// the new position, the lease extended), not one per delivery, so a busy server's
/// write queue does not set the pace; a crash before that write means those deliveries
/// are made again (at least once).
async fn serve(state: &AppState, http: &reqwest::Client, mut w: Webhook) -> Result<(), roster_store::StoreError> {
    let Some(token) = w.lease_token.clone() else {
        return Ok(());
    };
    let retention = i64::from(state.config.events_retention_days) * 86_400_000;
    let mut lease_until = state.now() + LEASE_MS;
    let mut pinned = None;
    loop {
        // What an admin changed meanwhile (a rotated secret, a new URL or filters, the
        // endpoint turned off or deleted) holds from the next batch on.
        let id = w.id.clone();
        let fresh = state
            .store
            .read(move |db| Box::pin(async move { webhooks::find(db, &id).await }))
            .await;
        match fresh {
            Ok(f) if f.enabled && f.lease_token.as_deref() == Some(token.as_str()) => {
                if f.url != w.url {
                    pinned = None;
                }
                w = f;
            }
            Ok(_) | Err(roster_store::StoreError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        }
        // The endpoint starts at the feed's head when it is made; what is older than
        // the retention is not sent any more.
        let since = state.now() - retention;
        let q = FeedQuery {
            after: Some(w.position),
            // Every change, also those no endpoint sees (a sign-in, a key made): the
            // position moves past them too, so an endpoint with nothing new is not due.
            since: i64::MIN,
            limit: BATCH,
        };
        let rows = state
            .store
            .read(move |db| Box::pin(async move { audit::feed(db, &q).await }))
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut run = Run::default();
        for (position, e) in rows {
            let wanted = events::public(&e, crate::routes::ts)
                .filter(|_| e.at >= since)
                .filter(|p| {
                    (w.types.is_empty() || w.types.iter().any(|t| t == p.kind))
                        && (w.organizations.is_empty()
                            || p.organization.as_ref().is_some_and(|o| w.organizations.contains(o)))
                });
            let Some(event) = wanted else {
                run.past = Some(position);
                continue;
            };
            // An attempt may take two timeouts (the name, the request): the lease must
            // outlast it, or be extended first (or this task stops: another took over).
            let attempt_ms = 2 * i64::try_from(TIMEOUT.as_millis()).unwrap_or(i64::MAX / 4);
            if state.now() + attempt_ms + 5_000 > lease_until
                && !record(state, &mut w, &token, &mut run, &mut lease_until).await?
            {
                return Ok(());
            }
            let (delivery, taken) = attempt(state, http, &mut pinned, &w, &event, position).await;
            // The endpoint has failed since this attempt began, unless it failed before.
            let at = delivery.at;
            run.deliveries.push(delivery);
            if !taken {
                let now = state.now();
                run.failed = Some((now + backoff_ms(state.config.webhook_backoff_ms, w.attempts + 1), at));
                let failing_since = if run.past.is_some() {
                    at
                } else {
                    w.failing_since.unwrap_or(at)
                };
                if !record(state, &mut w, &token, &mut run, &mut lease_until).await? {
                    return Ok(());
                }
                // Failing without a success for too long: the endpoint is turned off
                // (an event says so); an admin turns it on again.
                let limit = i64::from(state.config.webhook_disable_after_hours) * 3_600_000;
                if now - failing_since >= limit {
                    let ctx = roster_store::Ctx::new("system", None, crate::trace::current_trace_id(), now);
                    let (id, hours) = (w.id.clone(), state.config.webhook_disable_after_hours);
                    state
                        .store
                        .write(move |db| {
                            Box::pin(async move {
                                let why = format!("every delivery failed for {hours} hours");
                                webhooks::set_enabled(db, &ctx, &id, false, &why).await
                            })
                        })
                        .await?;
                }
                return Ok(());
            }
            run.past = Some(position);
            w.attempts = 0;
        }
        if !record(state, &mut w, &token, &mut run, &mut lease_until).await? {
            return Ok(());
        }
    }
}

/// Records `run` (emptying it) and extends the lease; false when the lease is lost.
async fn record(
    state: &AppState,
    w: &mut Webhook,
    token: &str,
    run: &mut Run,
    lease_until: &mut i64,
) -> Result<bool, roster_store::StoreError> {
    let done = std::mem::take(run);
    let until = state.now() + LEASE_MS;
    let (id, t, past) = (w.id.clone(), token.to_string(), done.past);
    let held = state
        .store
        .write(move |db| Box::pin(async move { webhooks::record_run(db, &id, &t, &done, until).await }))
        .await?;
    if held {
        *lease_until = until;
        if let Some(p) = past {
            w.position = p;
        }
    }
    Ok(held)
}

/// One attempt at delivering `event` to `w`: the log entry, and whether it was taken (a
/// 2xx answer).
async fn attempt(
    state: &AppState,
    http: &reqwest::Client,
    pinned: &mut Option<reqwest::Client>,
    w: &Webhook,
    event: &events::PublicEvent,
    position: Position,
) -> (Delivery, bool) {
    let started = Instant::now();
    let now = state.now();
    let mut d = Delivery {
        id: roster_store::new_id(),
        event_id: event.id.clone(),
        event: position,
        event_type: event.kind.to_string(),
        attempt: w.attempts + 1,
        at: now,
        status: None,
        latency_ms: 0,
        response: None,
        error: None,
    };
    let outcome = send(state, http, pinned, w, event, now).await;
    d.latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    match outcome {
        Ok((status, excerpt)) => {
            d.status = Some(i32::from(status));
            d.response = Some(excerpt);
            let taken = (200..300).contains(&status);
            if !taken {
                d.error = Some(format!("the endpoint answered {status}"));
            }
            (d, taken)
        }
        Err(e) => {
            d.error = Some(e);
            (d, false)
        }
    }
}

/// Sends `event` to `w`. `pinned` keeps, for one run of deliveries to an endpoint named
/// by a domain, the client bound to the addresses that were checked (so its
/// connections are kept alive across the run, and the name is resolved once a run).
async fn send(
    state: &AppState,
    http: &reqwest::Client,
    pinned: &mut Option<reqwest::Client>,
    w: &Webhook,
    event: &events::PublicEvent,
    now: i64,
) -> Result<(u16, String), String> {
    let url = url::Url::parse(&w.url).map_err(|_| "the endpoint URL does not parse".to_string())?;
    // Unless private targets are allowed, the name is resolved here, every address
    // checked, and the connection made to exactly those addresses (a name that points
    // elsewhere by the time of the connection, DNS rebinding, changes nothing).
    let http = match (state.config.webhook_allow_private, url.host()) {
        (true, _) => http,
        (false, Some(url::Host::Ipv4(ip))) if private(IpAddr::V4(ip)) => return Err(private_refused()),
        (false, Some(url::Host::Ipv6(ip))) if private(IpAddr::V6(ip)) => return Err(private_refused()),
        (false, Some(url::Host::Domain(_))) if pinned.is_some() => pinned.as_ref().unwrap_or(http),
        (false, Some(url::Host::Domain(name))) => {
            let port = url.port_or_known_default().unwrap_or(443);
            let addrs: Vec<std::net::SocketAddr> = tokio::time::timeout(TIMEOUT, tokio::net::lookup_host((name, port)))
                .await
                .map_err(|_| "the endpoint's name did not resolve in time".to_string())?
                .map_err(|e| format!("the endpoint's name does not resolve: {e}"))?
                .collect();
            if addrs.is_empty() || addrs.iter().any(|a| private(a.ip())) {
                return Err(private_refused());
            }
            let client = client_builder()
                .resolve_to_addrs(name, &addrs)
                .build()
                .map_err(|e| format!("no HTTP client: {e}"))?;
            pinned.insert(client)
        }
        (false, _) => http,
    };
    let secret = state
        .sealer
        .open(&w.secret_sealed)
        .map_err(|_| "the endpoint's secret cannot be opened with this server's key".to_string())?;
    let body = serde_json::to_vec(event).map_err(|e| e.to_string())?;
    let timestamp = now / 1000;
    let mut sig = signature(&secret, &event.id, timestamp, &body).ok_or("the endpoint's secret does not read")?;
    // During a rotation's overlap the previous secret signs too: the receiver may
    // still hold either (the specification's space-separated signatures).
    if let Some((previous, _)) = w.previous_secret.as_ref().filter(|(_, until)| *until > now) {
        let opened = state.sealer.open(previous).ok();
        if let Some(other) = opened.and_then(|p| signature(&p, &event.id, timestamp, &body)) {
            sig = format!("{sig} {other}");
        }
    }
    let resp = http
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &event.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", sig)
        .body(body)
        .send()
        .await
        .map_err(|e| format!("the endpoint could not be reached: {e}"))?;
    let status = resp.status().as_u16();
    // The start of the answer only, however much the endpoint sends.
    let mut resp = resp;
    let mut kept = Vec::new();
    while kept.len() < EXCERPT {
        match resp.chunk().await {
            Ok(Some(c)) => kept.extend_from_slice(&c),
            _ => break,
        }
    }
    kept.truncate(EXCERPT);
    Ok((status, String::from_utf8_lossy(&kept).into_owned()))
}

/// Sends the event of delivery attempt `of` to endpoint `w` again now, as an admin
/// asked: logged as a new attempt; the endpoint's position and retries are left as they
/// are. `None` when the event is no longer in the log.
pub async fn redeliver(
    state: &AppState,
    w: &Webhook,
    of: &Delivery,
) -> Result<Option<Delivery>, roster_store::StoreError> {
    let position = of.event;
    let found = state
        .store
        .read(move |db| Box::pin(async move { audit::at(db, position).await }))
        .await?;
    let Some(event) = found.and_then(|e| events::public(&e, crate::routes::ts)) else {
        return Ok(None);
    };
    let http = client_builder()
        .build()
        .map_err(|e| roster_store::StoreError::invalid("no_http_client", e.to_string()))?;
    let (mut delivery, _) = attempt(state, &http, &mut None, w, &event, position).await;
    delivery.attempt = 0;
    let (id, logged) = (w.id.clone(), delivery.clone());
    state
        .store
        .write(move |db| Box::pin(async move { webhooks::log_delivery(db, &id, &logged).await }))
        .await?;
    Ok(Some(delivery))
}

/// The HTTP client settings of every delivery: a timeout, no redirects.
fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("roster/", env!("CARGO_PKG_VERSION")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let sig = signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig.as_deref(), Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
        assert_eq!(signature("not-a-secret", "m", 1, b""), None);
        assert!(new_secret().starts_with("whsec_"));
    }

    #[test]
    fn private_targets_are_refused_unless_allowed() {
        for bad in [
            "http://127.0.0.1:9/x",
            "http://10.1.2.3/x",
            "http://[::1]/x",
            "http://localhost/x",
            "http://169.254.169.254/latest",
            "http://100.64.0.1/",
            "https://user:pw@example.com/",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("https://hooks.example.com/roster", false).is_ok());
        assert!(check_url("http://127.0.0.1:9/x", true).is_ok());
        assert!(check_url("ftp://example.com/", true).is_err());
        assert_eq!(backoff_ms(1000, 1), 1000);
        assert_eq!(backoff_ms(1000, 3), 4000);
        assert_eq!(backoff_ms(5000, 30), 3_600_000);
    }
}
