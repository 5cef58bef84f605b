//! Request ids. Every request gets a fresh trace id, echoed in the `X-Trace-Id` response
//! header, in every error body, on every log line of the request and on every audit
//! event. A caller's `X-Request-Id` is logged beside it, never adopted: trace ids in the
//! audit trail are the server's own, so they cannot be forged or made to collide.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::response::Response;
use std::future::Future;
use tracing::Instrument;

tokio::task_local! {
    static TRACE_ID: String;
}

/// The trace id of the request being served (empty outside one).
pub fn current_trace_id() -> String {
    TRACE_ID.try_with(Clone::clone).unwrap_or_default()
}

#[derive(Debug, Clone)]
pub struct TraceId(pub String);

fn acceptable(id: &str) -> bool {
    (8..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A fresh trace id for the request, noted on it, and the request's span.
pub fn begin(req: &mut Request) -> (String, tracing::Span) {
    // 128 bits from the thread's CSPRNG (seeded from the OS), not a system call each.
    let id = format!("{:032x}", rand::random::<u128>());
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .unwrap_or("");
    let span = tracing::info_span!("request", trace_id = %id, request_id = %request_id, method = %req.method(), path = %req.uri().path());
    req.extensions_mut().insert(TraceId(id.clone()));
    (id, span)
}

/// Answers the request as trace `id`: in its span, with the id where
/// [`current_trace_id`] finds it, and in the response's `X-Trace-Id`.
pub async fn serve(id: String, span: tracing::Span, answer: impl Future<Output = Response>) -> Response {
    let mut resp = TRACE_ID.scope(id.clone(), answer.instrument(span)).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-trace-id", v);
    }
    resp
}
