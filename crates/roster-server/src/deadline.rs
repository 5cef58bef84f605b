//! The request deadline (`request_timeout_secs`): a request still unanswered that long
//! after it arrived is answered 408, rendered by the error layer.
//!
//! The timer is armed only when a request first has to wait, with the deadline counted
//! from its arrival. Most requests never wait: a SQLite read runs to its end in the
//! request's first poll. Such a request never touches the runtime's timer wheel. That
//! matters beyond the wheel's own bookkeeping: a timer registered while none is pending
//! wakes the runtime's I/O driver, a system call, and with a timer per request that
//! happened on every request.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::future::Future;
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;
use tokio::time::{Instant, Sleep};

pub async fn deadline(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    let arrived = Instant::now();
    let mut answer = pin!(next.run(req));
    let mut timer: Option<Pin<Box<Sleep>>> = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(resp) = answer.as_mut().poll(cx) {
            return Poll::Ready(resp);
        }
        let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(arrived + limit)));
        timer
            .as_mut()
            .poll(cx)
            .map(|()| StatusCode::REQUEST_TIMEOUT.into_response())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use axum::{middleware, Router};
    use tower::ServiceExt;

    fn app(limit: Duration) -> Router {
        Router::new()
            .route("/now", get(|| async { "at once" }))
            .route(
                "/later",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "after five seconds"
                }),
            )
            .layer(middleware::from_fn_with_state(limit, deadline))
    }

    async fn call(app: Router, path: &str) -> (StatusCode, String) {
        let resp = app
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_past_its_deadline_gets_408() {
        let started = Instant::now();
        let (status, body) = call(app(Duration::from_secs(2)), "/later").await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(body, "");
        // Answered at the deadline, not when the handler would have finished.
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_within_their_deadline_are_answered() {
        let (status, body) = call(app(Duration::from_secs(2)), "/now").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "at once"));
        let (status, body) = call(app(Duration::from_secs(10)), "/later").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "after five seconds"));
    }
}
