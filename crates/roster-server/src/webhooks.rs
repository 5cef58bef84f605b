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
use roster_store::webhooks::{self, Delivery, Webhook};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How often due endpoints are looked for.
const POLL: Duration = Duration::from_millis(250);
/// How long an endpoint is leased to the task serving it.
const LEASE_MS: i64 = 60_000;
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

/// Whether `ip` is one webhooks may not reach unless the operator allows it.
fn private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets().first() == Some(&100) && v4.octets().get(1).is_some_and(|b| (64..128).contains(b))
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments().first().is_some_and(|s| s & 0xfe00 == 0xfc00))
                || (v6.segments().first().is_some_and(|s| s & 0xffc0 == 0xfe80))
                || v6.to_ipv4_mapped().is_some_and(|v4| private(IpAddr::V4(v4)))
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
    let http = match reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("roster/", env!("CARGO_PKG_VERSION")))
        .build()
    {
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
                        if let Err(e) = serve(&state, &http, w).await {
                            tracing::warn!(webhook = %id, error = %e, "webhook: could not record a delivery");
                        }
                        let released = state
                            .store
                            .write(move |db| Box::pin(async move { webhooks::release(db, &id).await }))
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
/// attempt fails.
async fn serve(state: &AppState, http: &reqwest::Client, mut w: Webhook) -> Result<(), roster_store::StoreError> {
    let retention = i64::from(state.config.events_retention_days) * 86_400_000;
    loop {
        let since = w.created_at.max(state.now() - retention);
        let q = FeedQuery {
            after: Some(w.position),
            // Every change, also those no endpoint sees (a sign-in, a key made, one from
            // before the endpoint or past the retention): the position moves past them
            // too, so an endpoint with nothing new is not due.
            since: i64::MIN,
            actions: Vec::new(),
            organization_id: None,
            limit: BATCH,
        };
        let rows = state
            .store
            .read(move |db| Box::pin(async move { audit::feed(db, &q).await }))
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut skipped: Option<Position> = None;
        for (position, e) in rows {
            let wanted = events::public(&e, crate::routes::ts)
                .filter(|_| e.at >= since)
                .filter(|p| {
                    (w.types.is_empty() || w.types.iter().any(|t| t == p.kind))
                        && (w.organizations.is_empty()
                            || p.organization.as_ref().is_some_and(|o| w.organizations.contains(o)))
                });
            let Some(event) = wanted else {
                skipped = Some(position);
                continue;
            };
            if let Some(p) = skipped.take() {
                move_past(state, &w.id, p).await?;
            }
            let (delivery, taken) = attempt(state, http, &w, &event).await;
            let retry_at = state.now() + backoff_ms(state.config.webhook_backoff_ms, w.attempts + 1);
            let id = w.id.clone();
            let next = taken.then_some(position);
            state
                .store
                .write(move |db| {
                    Box::pin(async move { webhooks::record_attempt(db, &id, &delivery, next, retry_at).await })
                })
                .await?;
            if !taken {
                return Ok(());
            }
            w.position = position;
            w.attempts = 0;
        }
        if let Some(p) = skipped {
            move_past(state, &w.id, p).await?;
            w.position = p;
        }
    }
}

async fn move_past(state: &AppState, id: &str, p: Position) -> Result<(), roster_store::StoreError> {
    let id = id.to_string();
    state
        .store
        .write(move |db| Box::pin(async move { webhooks::advance(db, &id, p).await }))
        .await
}

/// One attempt at delivering `event` to `w`: the log entry, and whether it was taken (a
/// 2xx answer).
async fn attempt(
    state: &AppState,
    http: &reqwest::Client,
    w: &Webhook,
    event: &events::PublicEvent,
) -> (Delivery, bool) {
    let started = Instant::now();
    let now = state.now();
    let mut d = Delivery {
        id: roster_store::new_id(),
        event_id: event.id.clone(),
        event_type: event.kind.to_string(),
        attempt: w.attempts + 1,
        at: now,
        status: None,
        latency_ms: 0,
        response: None,
        error: None,
    };
    let outcome = send(state, http, w, event, now).await;
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

async fn send(
    state: &AppState,
    http: &reqwest::Client,
    w: &Webhook,
    event: &events::PublicEvent,
    now: i64,
) -> Result<(u16, String), String> {
    let url = url::Url::parse(&w.url).map_err(|_| "the endpoint URL does not parse".to_string())?;
    if !state.config.webhook_allow_private {
        // Where the name points now (a name may be moved to a private address).
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_matches(|c| c == '[' || c == ']')
            .to_string();
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| format!("the endpoint's name does not resolve: {e}"))?;
        if addrs.into_iter().any(|a| private(a.ip())) {
            return Err(private_refused());
        }
    }
    let secret = state
        .sealer
        .open(&w.secret_sealed)
        .map_err(|_| "the endpoint's secret cannot be opened with this server's key".to_string())?;
    let body = serde_json::to_vec(event).map_err(|e| e.to_string())?;
    let timestamp = now / 1000;
    let sig = signature(&secret, &event.id, timestamp, &body).ok_or("the endpoint's secret does not read")?;
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
    let text = resp.text().await.unwrap_or_default();
    Ok((status, text.chars().take(EXCERPT).collect()))
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
