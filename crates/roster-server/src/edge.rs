//! What every request passes through around its route, in one layer, outermost first:
//!
//! 1. SCIM path normalisation (before routing: [`crate::routes::scim::normalize_path`]);
//! 2. the trace id and the request's span ([`crate::trace`]);
//! 3. metrics and the "served" log line ([`crate::metrics`]), which see the final answer;
//! 4. error normalisation ([`crate::error::normalize_errors`]), so that a 408 or a 413
//!    below still gets a JSON or SCIM error body;
//! 5. the request deadline ([`crate::deadline`]), counting from arrival;
//! 6. the body limit ([`crate::limits`]), reading the body whole before the route.
//!
//! One layer rather than six: each `from_fn` layer boxes the request's future, clones
//! the service below it and moves the request again, about a fifth of the cost of a
//! request that does no work.

use crate::{deadline, error, limits, metrics, routes, trace};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Duration;
use tokio::time::Instant;

/// The limits every request is held to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body kept, in bytes.
    pub max_body: usize,
    /// How long a request may take, from its arrival.
    pub timeout: Duration,
}

pub async fn edge(State(limits): State<Limits>, mut req: Request, next: Next) -> Response {
    let arrived = Instant::now();
    routes::scim::normalize_path(&mut req);
    let (id, span) = trace::begin(&mut req);
    trace::serve(id, span, async move {
        let tracked = metrics::begin(&mut req);
        let scim = req.uri().path().starts_with("/scim/");
        let resp = deadline::within(limits.timeout, arrived, async move {
            match limits::read_body(limits.max_body, req).await {
                Ok(req) => next.run(req).await,
                Err(refused) => refused,
            }
        })
        .await;
        let resp = error::normalize_errors(scim, resp);
        tracked.finish(&resp);
        resp
    })
    .await
}
