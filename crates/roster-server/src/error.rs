//! The one place where failures become HTTP responses.
//!
//! Every failure is classified once, into a [`Kind`] with one HTTP status; each protocol
//! then says it in its own format: the admin API's JSON error ([`ApiError`]), a SCIM
//! Error (`routes::scim::ScimFailure`), a sign-in page (`routes::sso::page::SsoFailure`).
//! A failure of ours is logged with the trace id where it is classified, so every
//! answer that tells someone to quote the trace id has the cause in the log.
//!
//! Every error body of the admin API is `{"error": {"code", "message", "trace_id"}}`.
//! Handlers return [`ApiError`]; request-parsing rejections go through [`ApiJson`] and
//! [`ApiQuery`]; anything else that would leave as a non-JSON error (an unknown route, a
//! wrong method, a body over the limit caught by a layer) is rewritten by
//! [`normalize_errors`]. Internal detail goes to the log with the trace id, never to the
//! client.

use crate::trace::current_trace_id;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use roster_core::plan::RefusalKind;
use roster_core::{DomainError, DomainErrorKind};
use roster_store::StoreError;
use serde::Serialize;

/// What kind of failure something is, whatever the protocol that reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value in the request is not valid.
    Invalid,
    /// A filter that cannot be run.
    InvalidFilter,
    NotFound,
    /// The object exists already.
    Exists,
    /// A valid request that the directory's state refuses.
    Conflict,
    /// The version the request built on is gone (S9).
    Stale,
    /// Try again later (shutting down).
    Unavailable,
    /// Ours: the detail is in the log under the trace id.
    Internal,
}

impl Kind {
    pub fn status(self) -> StatusCode {
        match self {
            Self::Invalid | Self::InvalidFilter => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Exists | Self::Conflict => StatusCode::CONFLICT,
            Self::Stale => StatusCode::PRECONDITION_FAILED,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// SCIM's `scimType` for this kind, where RFC 7644 §3.12 defines one.
    pub fn scim_type(self) -> Option<&'static str> {
        match self {
            Self::Invalid => Some("invalidValue"),
            Self::InvalidFilter => Some("invalidFilter"),
            Self::Exists => Some("uniqueness"),
            _ => None,
        }
    }
}

/// A failure, classified: its kind, a stable code and the message a client may see.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: Kind,
    pub code: &'static str,
    pub message: String,
}

impl Failure {
    fn new(kind: Kind, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            code,
            message: message.into(),
        }
    }

    /// A failure of ours: `cause` goes to the log with the trace id, the client gets a
    /// plain message.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, trace_id = %current_trace_id(), "request failed");
        Self::new(
            Kind::Internal,
            "internal",
            "something went wrong on our side; quote the trace id when reporting it",
        )
    }
}

impl From<DomainError> for Failure {
    fn from(e: DomainError) -> Self {
        let kind = match e.kind {
            DomainErrorKind::Invalid => Kind::Invalid,
            DomainErrorKind::Conflict => Kind::Conflict,
        };
        Self::new(kind, e.code, e.message)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => Self::new(Kind::NotFound, "not_found", e.to_string()),
            // A unique key lost to a concurrent request (two creates of one name).
            StoreError::Conflict {
                code: "conflict",
                message,
            } => Self::new(Kind::Exists, "conflict", message),
            StoreError::Conflict { code, message } => Self::new(Kind::Conflict, code, message),
            StoreError::Rule(d) => d.into(),
            StoreError::Refused(r) => {
                let (kind, code) = match r.kind {
                    RefusalKind::Exists => (Kind::Exists, "exists"),
                    RefusalKind::InvalidValue => (Kind::Invalid, "invalid_value"),
                    RefusalKind::NotProvisioned => (Kind::NotFound, "not_found"),
                    RefusalKind::Conflict => (Kind::Conflict, "conflict"),
                };
                Self::new(kind, code, r.detail)
            }
            StoreError::Stale => Self::new(Kind::Stale, "stale", e.to_string()),
            StoreError::InvalidFilter(m) => Self::new(Kind::InvalidFilter, "invalid_filter", m),
            StoreError::Closed => Self::new(Kind::Unavailable, "unavailable", "the server is shutting down; retry"),
            StoreError::Unavailable(reason) => {
                tracing::warn!(%reason, "database unavailable");
                Self::new(
                    Kind::Unavailable,
                    "unavailable",
                    "the database cannot be reached; nothing was changed, retry",
                )
            }
            StoreError::InDoubt(reason) => {
                tracing::error!(%reason, "the database went away during a commit");
                Self::new(
                    Kind::Unavailable,
                    "outcome_unknown",
                    "the database went away while this change was committing: it may have been made; read it back before sending it again",
                )
            }
            other @ (StoreError::Config(_)
            | StoreError::Migration(_)
            | StoreError::Database(_)
            | StoreError::Misuse(_)) => Self::internal(&other),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// Seconds to wait before trying again (`Retry-After`), when a limit was reached.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid admin token is required: Authorization: Bearer <token>",
        )
    }
    /// A limit on requests without a valid credential was reached (`abuse`).
    pub fn too_many(t: crate::abuse::TooMany) -> Self {
        Self {
            retry_after: Some(t.retry_after_secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "too many requests from this client; retry after the time in Retry-After",
            )
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; quote the trace id when reporting it",
        )
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    pub trace_id: String,
}

/// Marks a response whose body is already our JSON error, so [`normalize_errors`] keeps it.
#[derive(Clone, Copy)]
pub(crate) struct Rendered;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                trace_id: current_trace_id(),
            },
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(v) = self
            .retry_after
            .and_then(|s| header::HeaderValue::from_str(&s.to_string()).ok())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body was never read: the connection cannot carry another
            // request, so say so instead of letting the client reuse it.
            resp.headers_mut()
                .insert(header::CONNECTION, header::HeaderValue::from_static("close"));
        }
        resp.extensions_mut().insert(Rendered);
        resp
    }
}

impl From<Failure> for ApiError {
    fn from(f: Failure) -> Self {
        Self::new(f.kind.status(), f.code, f.message)
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        Failure::from(e).into()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Failure::from(e).into()
    }
}

/// `axum::Json` whose rejections are [`ApiError`]s.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// An optional JSON body: none when the request names no content type.
impl<S, T> axum::extract::OptionalFromRequest<S> for ApiJson<T>
where
    axum::Json<T>: axum::extract::OptionalFromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        match <axum::Json<T> as axum::extract::OptionalFromRequest<S>>::from_request(req, state).await {
            Ok(v) => Ok(v.map(|axum::Json(v)| Self(v))),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::JsonDataError(e) => ApiError::bad_request(
            "invalid_body",
            format!("the request body does not fit: {}", e.body_text()),
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
            "malformed_json",
            format!("the request body is not valid JSON: {}", e.body_text()),
        ),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        other => ApiError::new(other.status(), "invalid_body", other.body_text()),
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "the request body is larger than this server accepts",
    )
}

/// `axum::extract::Query` whose rejections are [`ApiError`]s.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    axum::extract::Query<T>: FromRequestParts<S, Rejection = QueryRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Self(v)),
            Err(e) => Err(ApiError::bad_request("invalid_query", e.body_text())),
        }
    }
}

/// Rewrites any error response that is not already our JSON error into one, so that
/// no client ever sees a plain-text or empty error; `scim`: the request was to the SCIM
/// endpoints, whose errors are SCIM Error bodies.
pub fn normalize_errors(scim: bool, resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("application/scim+json"));
    if !(status.is_client_error() || status.is_server_error())
        || is_json
        || resp.extensions().get::<Rendered>().is_some()
    {
        return resp;
    }
    let allow = resp.headers().get(header::ALLOW).cloned();
    let retry_after = resp.headers().get(header::RETRY_AFTER).cloned();
    if scim {
        // The SCIM endpoints answer in SCIM's own error format (RFC 7644 §3.12).
        let detail = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "the request body is larger than this server accepts",
            StatusCode::METHOD_NOT_ALLOWED => "this endpoint does not take that method",
            StatusCode::REQUEST_TIMEOUT => "the request took too long",
            StatusCode::TOO_MANY_REQUESTS => "too many requests from this client; retry after the time in Retry-After",
            StatusCode::SERVICE_UNAVAILABLE => "the server is busy; retry after the time in Retry-After",
            s if s.is_server_error() => "internal error",
            s => s.canonical_reason().unwrap_or("bad request"),
        };
        let mut out = crate::routes::scim::ScimFailure::new(status, detail).into_response();
        if let Some(allow) = allow {
            out.headers_mut().insert(header::ALLOW, allow);
        }
        if let Some(r) = retry_after {
            out.headers_mut().insert(header::RETRY_AFTER, r);
        }
        return out;
    }
    let mut err = match status {
        StatusCode::NOT_FOUND => ApiError::not_found("no such endpoint"),
        StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::new(status, "method_not_allowed", "this endpoint does not take that method")
        }
        StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        StatusCode::REQUEST_TIMEOUT => ApiError::new(status, "timeout", "the request took too long"),
        StatusCode::TOO_MANY_REQUESTS => ApiError::new(
            status,
            "too_many_requests",
            "too many requests from this client; retry after the time in Retry-After",
        ),
        StatusCode::SERVICE_UNAVAILABLE => ApiError::new(
            status,
            "unavailable",
            "the server is busy; retry after the time in Retry-After",
        ),
        s if s.is_server_error() => ApiError::internal(),
        s => ApiError::new(s, "bad_request", s.canonical_reason().unwrap_or("bad request")),
    }
    .into_response();
    if let Some(allow) = allow {
        err.headers_mut().insert(header::ALLOW, allow);
    }
    if let Some(r) = retry_after {
        err.headers_mut().insert(header::RETRY_AFTER, r);
    }
    err
}
