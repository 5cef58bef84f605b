//! The one place where failures become HTTP responses.
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
use roster_core::DomainError;
use roster_store::StoreError;
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
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

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        // Validation of a value is the request's fault (400); a rule refusing an
        // otherwise valid change is a conflict with the directory's state (409).
        let status = if e.code.starts_with("invalid_") {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::CONFLICT
        };
        Self::new(status, e.code, e.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => Self::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
            StoreError::Conflict { code, message } => Self::new(StatusCode::CONFLICT, code, message),
            StoreError::Rule(d) => d.into(),
            StoreError::Closed => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the server is shutting down; retry",
            ),
            other => {
                tracing::error!(error = %other, trace_id = %current_trace_id(), "store failure");
                Self::internal()
            }
        }
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
    if scim {
        // The SCIM endpoints answer in SCIM's own error format (RFC 7644 §3.12).
        let detail = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "the request body is larger than this server accepts",
            StatusCode::METHOD_NOT_ALLOWED => "this endpoint does not take that method",
            StatusCode::REQUEST_TIMEOUT => "the request took too long",
            s if s.is_server_error() => "internal error",
            s => s.canonical_reason().unwrap_or("bad request"),
        };
        let e = roster_scim::ScimError::new(status.as_u16(), None, detail);
        let mut out = crate::routes::scim::ScimFailure(e).into_response();
        if let Some(allow) = allow {
            out.headers_mut().insert(header::ALLOW, allow);
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
        s if s.is_server_error() => ApiError::internal(),
        s => ApiError::new(s, "bad_request", s.canonical_reason().unwrap_or("bad request")),
    }
    .into_response();
    if let Some(allow) = allow {
        err.headers_mut().insert(header::ALLOW, allow);
    }
    err
}
