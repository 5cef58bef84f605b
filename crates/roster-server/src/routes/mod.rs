//! The HTTP surface, one module per part of the URL space.

pub mod admin;
mod health;
mod oauth2;
pub mod scim;
pub mod sso;

use crate::error::ApiError;
use crate::state::AppState;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

#[derive(OpenApi)]
#[openapi(
    info(title = "Roster admin API", description = "Organizations, teams, members, invitations, domains, SSO connections, SCIM tokens and the audit log. Every call takes `Authorization: Bearer <admin token>`. Errors are `{\"error\": {\"code\", \"message\", \"trace_id\"}}`."),
    servers((url = "/api/v1")),
    modifiers(&BearerAuth),
    components(schemas(crate::error::ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "admin_token",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
            // An API key (`rk_…`) or an app's client_credentials access token: the
            // directory and the events only, within their scopes.
            components.add_security_scheme(
                "api_key",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// The OpenAPI document of the admin API, generated from the handlers' annotations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, api) = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .merge(admin::router())
        .split_for_parts();
    api
}

pub fn router(state: AppState) -> Router {
    let (admin, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(admin::router())
        .split_for_parts();
    let api = std::sync::Arc::new(api);
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .nest(
            "/api/v1",
            admin.route("/openapi.json", get(move || async move { Json(api.as_ref().clone()) })),
        )
        .merge(scim::router(state.clone()))
        .merge(sso::router())
        .merge(oauth2::router())
        .merge(crate::console::router())
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .with_state(state)
}

/// Unix milliseconds as an RFC 3339 UTC timestamp.
pub fn ts(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}
