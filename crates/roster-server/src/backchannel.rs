//! Back-channel logouts (OpenID Connect Back-Channel Logout 1.0): when a session ends
//! (a leaver deactivated or removed, a connection deleted, a sign-out), the change queues
//! one logout per app that asked for them (`backchannel_logout_uri`) in the same
//! transaction; this sender delivers each as a signed logout token, retrying with
//! growing waits until the app answers 2xx or the attempts run out. Each logout is
//! leased while it is sent, so that two nodes do not both send it.

use crate::signing_keys;
use crate::state::AppState;
use roster_oidc::grant;
use roster_oidc::signing::Alg;
use roster_store::apps;
use roster_store::oauth2::{self as store, Attempt, Logout};
use std::time::Duration;

/// How often queued logouts are looked for, besides when a change wakes the sender.
const POLL: Duration = Duration::from_secs(2);
/// How long a logout being sent is leased to this node.
const LEASE_MS: i64 = 60_000;
/// How many are sent at once.
const BATCH: i64 = 32;
/// Attempts before giving up (waits of 5 s, 10 s, 20 s, … up to an hour: about a day).
pub const MAX_ATTEMPTS: i32 = 30;
const TIMEOUT: Duration = Duration::from_secs(5);

/// The wait after failed attempt number `attempts` (1-based).
pub fn backoff_ms(attempts: i32) -> i64 {
    let exp = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    (5_000i64.saturating_mul(1 << exp)).min(60 * 60_000)
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
            tracing::error!(error = %e, "back-channel logouts cannot be sent: no HTTP client");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = state.logouts_queued.notified() => {}
            _ = stop.recv() => break,
        }
        if let Err(e) = send_due(&state, &http).await {
            tracing::warn!(error = %e, "back-channel logouts: could not read the queue");
        }
    }
}

/// Sends the logouts due now; returns how many were attempted.
pub async fn send_due(state: &AppState, http: &reqwest::Client) -> Result<usize, roster_store::StoreError> {
    let now = state.now();
    let due = state
        .store
        .write(move |db| Box::pin(async move { store::due_logouts(db, now, BATCH, LEASE_MS).await }))
        .await?;
    let n = due.len();
    let sends = due.into_iter().map(|l| async move {
        let attempt = send(state, http, &l).await;
        let now = state.now();
        let id = l.id.clone();
        if let Attempt::Failed { error, .. } = &attempt {
            tracing::warn!(app = %l.app_id, attempt = l.attempts + 1, %error, "back-channel logout failed");
        }
        let recorded = state
            .store
            .write(move |db| Box::pin(async move { store::logout_attempted(db, &id, now, &attempt).await }))
            .await;
        if let Err(e) = recorded {
            tracing::warn!(error = %e, "back-channel logout: could not record the attempt");
        }
    });
    futures::future::join_all(sends).await;
    Ok(n)
}

async fn send(state: &AppState, http: &reqwest::Client, l: &Logout) -> Attempt {
    let failed = |error: String| {
        let attempts = l.attempts + 1;
        Attempt::Failed {
            error,
            retry_at: (attempts < MAX_ATTEMPTS).then(|| state.now() + backoff_ms(attempts)),
        }
    };
    let app_id = l.app_id.clone();
    let alg = match state
        .store
        .read(move |db| Box::pin(async move { apps::find(db, &app_id).await }))
        .await
    {
        Ok(app) => Alg::parse(&app.id_token_signed_response_alg).unwrap_or(Alg::Rs256),
        Err(e) => return failed(format!("the app: {e}")),
    };
    let now_secs = state.now() / 1000;
    let claims = grant::logout_token_claims(
        state.config.public_url.trim_end_matches('/'),
        &l.app_id,
        &l.user_id,
        &l.session_id,
        now_secs,
        &roster_store::new_id(),
    );
    let token = match signing_keys::sign(state, alg, "logout+jwt", claims).await {
        Ok(t) => t,
        Err(f) => return failed(f.message),
    };
    match http.post(&l.uri).form(&[("logout_token", token)]).send().await {
        Ok(resp) if resp.status().is_success() => Attempt::Delivered,
        Ok(resp) => failed(format!("the app answered {}", resp.status())),
        Err(e) => failed(format!("the app could not be reached: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_an_hour() {
        assert_eq!(backoff_ms(1), 5_000);
        assert_eq!(backoff_ms(2), 10_000);
        assert_eq!(backoff_ms(5), 80_000);
        assert_eq!(backoff_ms(12), 60 * 60_000);
        assert_eq!(backoff_ms(30), 60 * 60_000);
        let total: i64 = (1..MAX_ATTEMPTS).map(backoff_ms).sum();
        assert!(total > 12 * 60 * 60_000, "about a day of retries: {total} ms");
    }
}
