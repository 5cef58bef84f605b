//! Webhook endpoints: registered here for the admin API and the console, with the same
//! checks (a URL Roster would send to, known event types, bounded lists).

use crate::error::ApiError;
use crate::events;
use crate::state::AppState;
use roster_store::directory::organizations;
use roster_store::webhooks::{self, Spec, Webhook};
use roster_store::Ctx;

/// Registers an endpoint for `events` (none: all) of `organizations` (ids or names;
/// none: all); answers it with its secret, shown once (kept sealed: it signs every
/// delivery).
pub async fn register(
    state: &AppState,
    ctx: Ctx,
    url: String,
    events: Vec<String>,
    organizations: Vec<String>,
) -> Result<(Webhook, String), ApiError> {
    check(state, Some(&url), Some(&events), Some(&organizations))?;
    let secret = crate::webhooks::new_secret();
    let sealed = state
        .sealer
        .seal(&secret)
        .map_err(|e| ApiError::from(crate::error::Failure::internal(&e)))?;
    let hook = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let ids = organizations::ids(db, &organizations).await?;
                let spec = Spec {
                    url: &url,
                    types: &events,
                    organizations: &ids,
                    secret_sealed: &sealed,
                };
                webhooks::create(db, &ctx, &spec).await
            })
        })
        .await?;
    Ok((hook, secret))
}

/// Refuses a URL Roster would not send to, unknown event types, and too long lists.
pub fn check(
    state: &AppState,
    url: Option<&str>,
    events: Option<&[String]>,
    organizations: Option<&[String]>,
) -> Result<(), ApiError> {
    if let Some(url) = url {
        crate::webhooks::check_url(url, state.config.webhook_allow_private)
            .map_err(|why| ApiError::bad_request("invalid_url", why))?;
    }
    if events.is_some_and(|e| e.len() > 50) || organizations.is_some_and(|o| o.len() > 100) {
        return Err(ApiError::bad_request(
            "too_many",
            "at most 50 event types and 100 organizations",
        ));
    }
    if let Some(bad) = events.unwrap_or_default().iter().find(|t| !events::is_type(t)) {
        return Err(ApiError::bad_request(
            "invalid_type",
            format!("'{bad}' is not an event type"),
        ));
    }
    Ok(())
}
