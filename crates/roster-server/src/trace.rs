//! Request ids. Every request gets a fresh trace id, echoed in the `X-Trace-Id` response
//! header, in every error body, on every log line of the request and on every audit
//! event. A caller's `X-Request-Id` is logged beside it, never adopted: trace ids in the
//! audit trail are the server's own, so they cannot be forged or made to collide.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
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

pub async fn assign(mut req: Request, next: Next) -> Response {
    // 128 bits from the thread's CSPRNG (seeded from the OS), not a system call each.
    let id = format!("{:032x}", rand::random::<u128>());
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .unwrap_or("")
        .to_string();
    req.extensions_mut().insert(TraceId(id.clone()));
    let span = tracing::info_span!("request", trace_id = %id, request_id = %request_id, method = %req.method(), path = %req.uri().path());
    let mut resp = TRACE_ID.scope(id.clone(), next.run(req).instrument(span)).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-trace-id", v);
    }
    resp
}
