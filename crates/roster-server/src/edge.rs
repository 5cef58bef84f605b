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
//! It also finds the client's address and holds sign-in requests to the per-client
//! limit ([`crate::abuse`]).
//!
//! One layer rather than six: each `from_fn` layer boxes the request's future, clones
//! the service below it and moves the request again, about a fifth of the cost of a
//! request that does no work.

use crate::{abuse, deadline, error, limits, metrics, routes, trace};
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

/// The limits every request is held to.
#[derive(Clone)]
pub struct Limits {
    /// Largest request body kept, in bytes.
    pub max_body: usize,
    /// How long a request may take, from its arrival.
    pub timeout: Duration,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: std::sync::Arc<[std::net::IpAddr]>,
    /// Limits on what anyone can reach without a credential.
    pub abuse: std::sync::Arc<abuse::Limits>,
    /// One permit per request being served: a cap on the work in flight.
    pub in_flight: std::sync::Arc<tokio::sync::Semaphore>,
}

pub async fn edge(State(limits): State<Limits>, mut req: Request, next: Next) -> Response {
    let arrived = Instant::now();
    routes::scim::normalize_path(&mut req);
    let (id, span) = trace::begin(&mut req);
    trace::serve(id, span, async move {
        let tracked = metrics::begin(&mut req);
        let scim = req.uri().path().starts_with("/scim/");
        // The client, for the abuse limits (the TCP peer, or behind a trusted proxy the
        // address it forwards).
        let client = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| abuse::client_ip(peer.ip(), req.headers(), &limits.trusted_proxies));
        if let Some(ip) = client {
            req.extensions_mut().insert(abuse::ClientIp(ip));
        }
        // Past the cap on requests in flight the server answers at once rather than
        // queueing without bound (health checks are always answered).
        let path = req.uri().path();
        let permit = if path == "/healthz" || path == "/readyz" {
            None
        } else {
            match limits.in_flight.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    let resp = error::normalize_errors(scim, busy());
                    tracked.finish(&resp);
                    return resp;
                }
            }
        };
        // Sign-in endpoints answer anyone: each client, and each connection, gets so
        // many a minute.
        let refused = match client {
            Some(ip) if signs_in(req.uri().path()) => limits.abuse.sso_request(ip, req.uri().path()).err(),
            _ => None,
        };
        let resp = match refused {
            Some(too_many) => too_many.into_response(),
            None => {
                deadline::within(limits.timeout, arrived, async move {
                    match limits::read_body(limits.max_body, req).await {
                        Ok(req) => next.run(req).await,
                        Err(refused) => refused,
                    }
                })
                .await
            }
        };
        drop(permit);
        let resp = error::normalize_errors(scim, resp);
        tracked.finish(&resp);
        resp
    })
    .await
}

/// Whether `path` is a sign-in page anyone's browser may be sent to: SSO, and the
/// OpenID Provider's authorize and logout (its token endpoints authenticate the app,
/// and count failures as the admin and SCIM tokens do).
fn signs_in(path: &str) -> bool {
    path.starts_with("/sso/") || path.starts_with("/oauth2/authorize") || path == "/oauth2/logout"
}

/// 503: the server is serving as many requests as it takes; try again in a second.
fn busy() -> Response {
    let mut resp = axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    resp.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("1"),
    );
    resp
}
