//! Prometheus metrics, served on their own listener (`--metrics-listen`) so that they are
//! never exposed on the public port by accident.
//!
//! - `roster_http_requests_total{method, route, status}`
//! - `roster_http_request_duration_seconds{method, route}` (histogram)
//! - `roster_db_pool_connections{state="open"|"idle"}`

use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide recorder (installed once; later servers in the same process share it).
fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ];
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), &buckets)
                .ok()?
                .install_recorder()
                .ok()
        })
        .as_ref()
}

pub fn install() {
    let _ = handle();
}

/// Where the route layer leaves the template of the route a request matched, for
/// [`Tracked`], which runs outside the router.
#[derive(Clone, Default)]
struct RouteSlot(Arc<OnceLock<MatchedPath>>);

/// Inside the router: notes the matched route's template for [`Tracked`].
pub async fn label_route(req: Request, next: Next) -> Response {
    if let (Some(slot), Some(path)) = (
        req.extensions().get::<RouteSlot>(),
        req.extensions().get::<MatchedPath>(),
    ) {
        let _ = slot.0.set(path.clone());
    }
    next.run(req).await
}

/// Counts and times every request by its route template (never the raw path, which
/// would let clients create unbounded label values), and logs it: [`begin`] as the
/// request arrives, [`Tracked::finish`] with its answer.
pub struct Tracked {
    slot: RouteSlot,
    method: &'static str,
    start: Instant,
}

pub fn begin(req: &mut Request) -> Tracked {
    let slot = RouteSlot::default();
    req.extensions_mut().insert(slot.clone());
    // A fixed set of label values: other methods are counted together.
    let method = match *req.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    Tracked {
        slot,
        method,
        start: Instant::now(),
    }
}

impl Tracked {
    pub fn finish(self, resp: &Response) {
        let elapsed = self.start.elapsed();
        let method = self.method;
        let route = label(self.slot.0.get().map_or("unmatched", MatchedPath::as_str));
        let status = resp.status();
        metrics::counter!("roster_http_requests_total", "method" => method, "route" => route, "status" => label(status.as_str())).increment(1);
        metrics::histogram!("roster_http_request_duration_seconds", "method" => method, "route" => route)
            .record(elapsed.as_secs_f64());
        tracing::info!(
            status = status.as_u16(),
            route,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "served"
        );
    }
}

/// A label value for the life of the process. Route templates and status codes are few
/// and fixed, so each is allocated once, not once per request.
fn label(value: &str) -> &'static str {
    static SEEN: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut seen = SEEN.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = seen.get(value) {
        return known;
    }
    let new: &'static str = Box::leak(value.into());
    seen.insert(new);
    new
}

async fn render(State(state): State<AppState>) -> Response {
    let (open, idle) = state.store.pool_stats();
    metrics::gauge!("roster_db_pool_connections", "state" => "open").set(f64::from(open));
    metrics::gauge!("roster_db_pool_connections", "state" => "idle").set(idle as f64);
    let body = handle().map(PrometheusHandle::render).unwrap_or_default();
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

pub fn router(state: AppState) -> Router {
    Router::new().route("/metrics", get(render)).with_state(state)
}
