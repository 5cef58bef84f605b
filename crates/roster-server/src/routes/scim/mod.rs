//! The SCIM 2.0 server, `/scim/v2` (spec §5, RFC 7643/7644).
//!
//! Authentication is a connection's SCIM token ([`ScimAuth`]): everything a request
//! sees or touches is that connection's — its Users, its Groups, its company's
//! organizations. Every error is a SCIM Error body (`application/scim+json`, `status`
//! as a string), whatever went wrong: bad JSON, a hostile filter, a wrong token, an
//! oversized body, an unknown route.

mod discovery;
mod groups;
mod members;
mod projection;
mod render;
mod search;
mod users;

use crate::abuse::ClientIp;
use crate::auth::bearer_or_bare;
use crate::error::{Failure, Kind};
use crate::state::AppState;
use crate::trace::current_trace_id;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use roster_scim::{ErrorKind, ScimError};
use roster_store::connections::{self, Connection};
use roster_store::{tokens, Ctx, StoreError};
use serde_json::{Map, Value};
use std::sync::Arc;

pub const CONTENT_TYPE: &str = "application/scim+json";

/// Most resources a list returns at once (said in ServiceProviderConfig).
pub const MAX_COUNT: i64 = 200;
pub const DEFAULT_COUNT: i64 = 100;

pub fn router(state: AppState) -> Router<AppState> {
    let api = Router::new()
        .route("/ServiceProviderConfig", get(discovery::service_provider_config))
        .route("/ResourceTypes", get(discovery::resource_types))
        .route("/ResourceTypes/{id}", get(discovery::resource_type))
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{id}", get(discovery::schema))
        .route("/Users", get(users::list).post(users::create))
        .route("/Users/.search", axum::routing::post(users::search))
        .route(
            "/Users/{id}",
            get(users::get_one)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route("/Groups", get(groups::list).post(groups::create))
        .route("/Groups/.search", axum::routing::post(groups::search))
        .route(
            "/Groups/{id}",
            get(groups::get_one)
                .put(groups::replace)
                .patch(groups::patch)
                .delete(groups::delete),
        )
        .route("/.search", axum::routing::post(search::search_all))
        .fallback(unknown);
    Router::new().nest(
        "/scim/v2",
        api.layer(axum::middleware::from_fn_with_state(state, record_failures)),
    )
}

/// Which connection a SCIM request turned out to belong to (filled by [`ScimAuth`]), so
/// that its failure lands in that connection's error log.
#[derive(Clone, Default)]
pub struct Attribution(std::sync::Arc<std::sync::Mutex<Option<String>>>);

/// E1: records every failed SCIM request of an authenticated connection — the request,
/// the status, the SCIM error and the trace id — in the connection's error log.
pub async fn record_failures(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let slot = Attribution::default();
    req.extensions_mut().insert(slot.clone());
    // Inside the nested router the path lost its `/scim/v2` prefix; report the original.
    // Kept as they are (cheap clones) and written out only for a failure.
    let method = req.method().clone();
    let uri = req
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map_or_else(|| req.uri().clone(), |u| u.0.clone());
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let Some(connection_id) = slot.0.lock().ok().and_then(|g| g.clone()) else {
        return resp;
    };
    let request = format!("{method} {}", uri.path());
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let entry = roster_store::error_log::Entry {
        seq: 0,
        at: state.now(),
        kind: "scim".into(),
        request,
        status: i64::from(status.as_u16()),
        code: v.get("scimType").and_then(Value::as_str).map(str::to_string),
        detail: v.get("detail").and_then(Value::as_str).unwrap_or("").to_string(),
        trace_id: current_trace_id(),
    };
    let recorded = state
        .store
        .write(move |db| Box::pin(async move { roster_store::error_log::record(db, &connection_id, &entry).await }))
        .await;
    if let Err(e) = recorded {
        // Never turn the answer into another error because the log could not be written.
        tracing::warn!(error = %e, "could not record a SCIM failure in the error log");
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// IdPs configured with a trailing slash on the base URL send `/scim/v2//Users` or
/// `/scim/v2/Users/`: the same endpoints. Runs before routing.
pub fn normalize_path(req: &mut axum::extract::Request) {
    let path = req.uri().path();
    if path.starts_with("/scim/") && (path.contains("//") || (path.len() > 1 && path.ends_with('/'))) {
        let mut clean = String::with_capacity(path.len());
        for c in path.chars() {
            if !(c == '/' && clean.ends_with('/')) {
                clean.push(c);
            }
        }
        while clean.len() > 1 && clean.ends_with('/') {
            clean.pop();
        }
        let pq = match req.uri().query() {
            Some(q) => format!("{clean}?{q}"),
            None => clean,
        };
        if let Ok(uri) = pq.parse::<axum::http::Uri>() {
            *req.uri_mut() = uri;
        }
    }
}

async fn unknown() -> ScimFailure {
    ScimError::not_found("no such SCIM endpoint").into()
}

/// A SCIM error as a response: the status, the `scimType` where there is one, and the
/// detail, in the SCIM Error body (`status` as a string, RFC 7644 §3.12).
#[derive(Debug, Clone)]
pub struct ScimFailure {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
    /// Seconds to wait before trying again (`Retry-After`), when a limit was reached.
    pub retry_after: Option<u64>,
}

impl ScimFailure {
    /// A failure the protocol crate does not name (authentication, limits, ours).
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type: None,
            detail: detail.into(),
            retry_after: None,
        }
    }
}

impl IntoResponse for ScimFailure {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(detail = %self.detail, trace_id = %current_trace_id(), "SCIM request failed");
        }
        let mut body = serde_json::json!({
            "schemas": [roster_scim::urn::ERROR],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let (Some(t), Some(fields)) = (self.scim_type, body.as_object_mut()) {
            fields.insert("scimType".into(), Value::String(t.into()));
        }
        let mut resp = (self.status, [(header::CONTENT_TYPE, CONTENT_TYPE)], body.to_string()).into_response();
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(v) = self
            .retry_after
            .and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

impl From<ScimError> for ScimFailure {
    fn from(e: ScimError) -> Self {
        let status = match e.kind {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Uniqueness => StatusCode::CONFLICT,
            ErrorKind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ErrorKind::InvalidFilter
            | ErrorKind::InvalidPath
            | ErrorKind::InvalidValue
            | ErrorKind::InvalidSyntax
            | ErrorKind::NoTarget
            | ErrorKind::Mutability => StatusCode::BAD_REQUEST,
        };
        Self {
            status,
            scim_type: e.scim_type(),
            detail: e.detail,
            retry_after: None,
        }
    }
}

impl From<StoreError> for ScimFailure {
    fn from(e: StoreError) -> Self {
        let f = Failure::from(e);
        match f.kind {
            Kind::Internal => Self::new(
                f.kind.status(),
                format!("internal error; quote trace id {}", current_trace_id()),
            ),
            kind => Self {
                status: kind.status(),
                scim_type: kind.scim_type(),
                detail: f.message,
                retry_after: None,
            },
        }
    }
}

/// Holding one proves the request carried an active SCIM token of a connection with SCIM
/// on; it carries that connection, and nothing else is reachable.
pub struct ScimAuth {
    pub connection: Arc<Connection>,
    token_id: String,
}

impl ScimAuth {
    pub fn ctx(&self, state: &AppState) -> Ctx {
        Ctx::new("scim", Some(self.token_id.clone()), current_trace_id(), state.now())
            .via_connection(&self.connection.id)
    }
    pub fn base_url(&self, state: &AppState) -> String {
        format!("{}/scim/v2", state.config.public_url)
    }
}

impl FromRequestParts<AppState> for ScimAuth {
    type Rejection = ScimFailure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // Failed authentications are limited per client (abuse limits).
        let client = parts.extensions.get::<ClientIp>().copied();
        let unauthorized = || match client.map(|ClientIp(ip)| state.limits.auth_failed(ip)) {
            Some(Err(t)) => ScimFailure {
                retry_after: Some(t.retry_after_secs),
                ..ScimFailure::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many failed authentications from this client; retry after the time in Retry-After",
                )
            },
            _ => ScimFailure::new(
                StatusCode::UNAUTHORIZED,
                "a valid SCIM token is required: Authorization: Bearer <token>",
            ),
        };
        let token = bearer_or_bare(parts).ok_or_else(unauthorized)?;
        let key = tokens::hash_secret(&token);
        let found = match state.scim_auth.get(&key) {
            Some(hit) => Some(hit),
            None => {
                let version = state.scim_auth.version();
                let found = state
                    .store
                    .read(move |db| {
                        Box::pin(async move {
                            let Some((token_id, connection_id)) = tokens::verify_scim(db, &token).await? else {
                                return Ok(None);
                            };
                            Ok(Some((token_id, Arc::new(connections::find(db, &connection_id).await?))))
                        })
                    })
                    .await?;
                if let Some((token_id, connection)) = &found {
                    state.scim_auth.put(version, key, token_id.clone(), connection.clone());
                    let (id, now) = (token_id.clone(), state.now());
                    if let Err(e) = state
                        .store
                        .write(move |db| Box::pin(async move { tokens::touch_scim(db, &id, now).await }))
                        .await
                    {
                        tracing::warn!(error = %e, "could not record SCIM token use");
                    }
                }
                found
            }
        };
        let (token_id, connection) = found.ok_or_else(unauthorized)?;
        if let Some(slot) = parts.extensions.get::<Attribution>() {
            if let Ok(mut g) = slot.0.lock() {
                *g = Some(connection.id.clone());
            }
        }
        if !connection.scim {
            return Err(ScimFailure::new(
                StatusCode::FORBIDDEN,
                format!("SCIM provisioning is turned off for connection '{}'", connection.name),
            ));
        }
        Ok(Self { connection, token_id })
    }
}

/// A JSON request body (`application/scim+json` or plain JSON), as an object.
pub fn json_body(body: Result<Bytes, BytesRejection>) -> Result<Map<String, Value>, ScimFailure> {
    let bytes = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ScimFailure::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is larger than this server accepts",
            )
        } else {
            ScimError::invalid_syntax(format!("the request body could not be read: {}", r.body_text())).into()
        }
    })?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}")))?;
    match value {
        Value::Object(m) => Ok(m),
        _ => Err(ScimError::invalid_syntax("the request body must be a JSON object").into()),
    }
}

/// `If-Match` (RFC 7644 §3.14): the resource must still be at that version.
pub fn check_if_match(headers: &HeaderMap, version: i64) -> Result<(), ScimError> {
    let Some(wanted) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let current = render::etag(version);
    let ok = wanted
        .split(',')
        .map(str::trim)
        .any(|w| w == "*" || w == current || w.trim_start_matches("W/") == current.trim_start_matches("W/"));
    if ok {
        Ok(())
    } else {
        Err(ScimError::precondition_failed(format!(
            "the resource has changed: its version is {current}"
        )))
    }
}

/// A SCIM JSON response with status, and `ETag`/`Location` for single resources.
pub fn respond(
    status: StatusCode,
    body: impl serde::Serialize,
    version_and_location: Option<(i64, String)>,
) -> Response {
    // Straight to bytes: `to_string` would go through the formatting machinery. A single
    // User is about 700 bytes: one allocation, not a run of doublings.
    let mut bytes = Vec::with_capacity(1024);
    if serde_json::to_writer(&mut bytes, &body).is_err() {
        bytes.clear();
    }
    let mut resp = (status, [(header::CONTENT_TYPE, CONTENT_TYPE)], bytes).into_response();
    if let Some((version, location)) = version_and_location {
        version_headers(&mut resp, version, &location);
    }
    resp
}

/// 204 for a change answered without a body, with the new version and the location.
pub fn no_content(version: i64, location: &str) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    version_headers(&mut resp, version, location);
    resp
}

fn version_headers(resp: &mut Response, version: i64, location: &str) {
    if let Ok(v) = HeaderValue::from_str(&render::etag(version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
}
