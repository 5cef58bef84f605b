//! Webhook endpoints: registered by an admin, each with a `whsec_` secret shown once (and
//! kept sealed: it signs every delivery), the event types and organizations it wants,
//! and a log of every delivery attempt.

use super::page_limit;
use crate::auth::Admin;
use crate::error::{ApiError, ApiJson, ApiQuery, ErrorBody};
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use roster_store::directory::organizations;
use roster_store::webhooks::{self, Webhook};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(deliveries))
        .routes(routes!(rotate_secret))
        .routes(routes!(redeliver))
}

#[derive(Serialize, ToSchema)]
pub struct WebhookView {
    id: String,
    url: String,
    /// Event types delivered; empty: all.
    events: Vec<String>,
    /// Organization ids whose events are delivered; empty: all.
    organizations: Vec<String>,
    enabled: bool,
    /// The secret (`whsec_…`), only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    /// Until when the previous secret still signs too, after a rotation.
    previous_secret_until: Option<String>,
    /// Failed attempts at the event it is on, and since when it has been failing.
    failed_attempts: i32,
    failing_since: Option<String>,
    created_at: String,
}

impl WebhookView {
    fn new(w: Webhook, secret: Option<String>) -> Self {
        Self {
            id: w.id,
            url: w.url,
            events: w.types,
            organizations: w.organizations,
            enabled: w.enabled,
            secret,
            previous_secret_until: w.previous_secret.as_ref().map(|(_, until)| ts(*until)),
            failed_attempts: w.attempts,
            failing_since: w.failing_since.map(ts),
            created_at: ts(w.created_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    url: String,
    /// Event types (see the events feed); none: all.
    #[serde(default)]
    events: Vec<String>,
    /// Organizations (ids or names); none: all.
    #[serde(default)]
    organizations: Vec<String>,
}

/// Register a webhook endpoint; its secret is in this answer only.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = CreateWebhook,
    responses((status = 201, body = WebhookView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("admin_token" = [])))]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<CreateWebhook>,
) -> Result<(StatusCode, ApiJson<WebhookView>), ApiError> {
    let (hook, secret) =
        crate::service::webhooks::register(&state, admin.ctx(&state), body.url, body.events, body.organizations)
            .await?;
    Ok((StatusCode::CREATED, ApiJson(WebhookView::new(hook, Some(secret)))))
}

/// Every webhook endpoint.
#[utoipa::path(get, path = "/webhooks", tag = "webhooks",
    responses((status = 200, body = Vec<WebhookView>)), security(("admin_token" = [])))]
async fn list(State(state): State<AppState>, _admin: Admin) -> Result<ApiJson<Vec<WebhookView>>, ApiError> {
    let hooks = state
        .store
        .read(|db| Box::pin(async move { webhooks::list(db).await }))
        .await?;
    Ok(ApiJson(hooks.into_iter().map(|w| WebhookView::new(w, None)).collect()))
}

/// One webhook endpoint (never its secret).
#[utoipa::path(get, path = "/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = WebhookView), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn get_one(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<ApiJson<WebhookView>, ApiError> {
    let hook = state
        .store
        .read(move |db| Box::pin(async move { webhooks::find(db, &id).await }))
        .await?;
    Ok(ApiJson(WebhookView::new(hook, None)))
}

/// Remove a webhook endpoint; nothing more is delivered to it.
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn delete(State(state): State<AppState>, admin: Admin, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let ctx = admin.ctx(&state);
    state
        .store
        .write(move |db| Box::pin(async move { webhooks::delete(db, &ctx, &id).await }))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    id: String,
    event_id: String,
    event_type: String,
    attempt: i32,
    at: String,
    /// The endpoint's HTTP status; null when it could not be reached.
    status: Option<i32>,
    latency_ms: i64,
    /// The start of the endpoint's answer.
    response: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// How many (default 100, at most 1000), newest first.
    limit: Option<u32>,
}

/// The endpoint's delivery attempts, newest first.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = String, Path), DeliveriesQuery),
    responses((status = 200, body = Vec<DeliveryView>), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn deliveries(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> Result<ApiJson<Vec<DeliveryView>>, ApiError> {
    let limit = page_limit(q.limit, 100, 1000);
    let list = state
        .store
        .read(move |db| {
            Box::pin(async move {
                webhooks::find(db, &id).await?;
                webhooks::deliveries(db, &id, limit).await
            })
        })
        .await?;
    Ok(ApiJson(list.into_iter().map(DeliveryView::from).collect()))
}

/// How long a rotated secret keeps signing beside the new one.
const SECRET_OVERLAP_MS: i64 = 24 * 60 * 60 * 1000;

/// Give the endpoint a new secret (in this answer only); the previous one keeps signing
/// beside it for 24 hours, so the receiver can switch without losing a delivery.
#[utoipa::path(post, path = "/webhooks/{id}/secret", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = WebhookView), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn rotate_secret(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<ApiJson<WebhookView>, ApiError> {
    let secret = crate::webhooks::new_secret();
    let sealed = state
        .sealer
        .seal(&secret)
        .map_err(|e| ApiError::from(crate::error::Failure::internal(&e)))?;
    let ctx = admin.ctx(&state);
    let until = ctx.now + SECRET_OVERLAP_MS;
    let hook = state
        .store
        .write(move |db| Box::pin(async move { webhooks::rotate_secret(db, &ctx, &id, &sealed, until).await }))
        .await?;
    Ok(ApiJson(WebhookView::new(hook, Some(secret))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    /// Turn the endpoint off, or on again (from where it stopped).
    enabled: Option<bool>,
    /// A new target; the next events go there.
    url: Option<String>,
    /// Event types (none: all).
    events: Option<Vec<String>>,
    /// Organizations, ids or names (none: all).
    organizations: Option<Vec<String>>,
}

/// Change an endpoint's URL or filters, or turn it off or on again. It goes on from
/// where it is.
#[utoipa::path(patch, path = "/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)), request_body = UpdateWebhook,
    responses((status = 200, body = WebhookView), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateWebhook>,
) -> Result<ApiJson<WebhookView>, ApiError> {
    crate::service::webhooks::check(
        &state,
        body.url.as_deref(),
        body.events.as_deref(),
        body.organizations.as_deref(),
    )?;
    let ctx = admin.ctx(&state);
    let hook = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let organizations = match &body.organizations {
                    Some(o) => Some(organizations::ids(db, o).await?),
                    None => None,
                };
                if body.url.is_some() || body.events.is_some() || organizations.is_some() {
                    let change = webhooks::Change {
                        url: body.url.as_deref(),
                        types: body.events.as_deref(),
                        organizations: organizations.as_deref(),
                    };
                    webhooks::update(db, &ctx, &id, &change).await?;
                }
                match body.enabled {
                    Some(enabled) => webhooks::set_enabled(db, &ctx, &id, enabled, "an admin asked").await,
                    None => webhooks::find(db, &id).await,
                }
            })
        })
        .await?;
    Ok(ApiJson(WebhookView::new(hook, None)))
}

/// Send a delivery's event to the endpoint again, now; logged as a new attempt (number
/// 0). The endpoint's position and retries are left as they are.
#[utoipa::path(post, path = "/webhooks/{id}/deliveries/{delivery}/retry", tag = "webhooks",
    params(("id" = String, Path), ("delivery" = String, Path)),
    responses((status = 200, body = DeliveryView), (status = 404, body = ErrorBody), (status = 410, body = ErrorBody)),
    security(("admin_token" = [])))]
async fn redeliver(
    State(state): State<AppState>,
    _admin: Admin,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<ApiJson<DeliveryView>, ApiError> {
    let (hook, of) = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let hook = webhooks::find(db, &id).await?;
                let of = webhooks::find_delivery(db, &id, &delivery).await?;
                Ok((hook, of))
            })
        })
        .await?;
    match crate::webhooks::redeliver(&state, &hook, &of).await? {
        Some(d) => Ok(ApiJson(DeliveryView::from(d))),
        None => Err(ApiError::new(
            StatusCode::GONE,
            "event_gone",
            "the event of this delivery is no longer in the log",
        )),
    }
}

impl From<webhooks::Delivery> for DeliveryView {
    fn from(d: webhooks::Delivery) -> Self {
        Self {
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            attempt: d.attempt,
            at: ts(d.at),
            status: d.status,
            latency_ms: d.latency_ms,
            response: d.response,
            error: d.error,
        }
    }
}
