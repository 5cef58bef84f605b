//! The request deadline (`request_timeout_secs`): a request still unanswered that long
//! after it arrived is answered 408 (its body written by [`crate::error::normalize_errors`]).
//!
//! The timer is armed only when a request first has to wait, with the deadline counted
//! from its arrival. Most requests never wait: a SQLite read runs to its end in the
//! request's first poll. Such a request never touches the runtime's timer wheel. That
//! matters beyond the wheel's own bookkeeping: a timer registered while none is pending
//! wakes the runtime's I/O driver, a system call, and with a timer per request that
//! happened on every request.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::future::Future;
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// `answer`, or 408 once `limit` has passed since `arrived`.
pub async fn within(limit: Duration, arrived: Instant, answer: impl Future<Output = Response>) -> Response {
    let mut answer = pin!(answer);
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

    async fn answer_after(wait: Duration) -> Response {
        tokio::time::sleep(wait).await;
        (StatusCode::OK, "answered").into_response()
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_past_its_deadline_gets_408_counted_from_arrival() {
        // Polled at once, or a second after arrival: the deadline stays two seconds
        // after arrival either way, not when the answer would have come.
        for first_poll in [Duration::ZERO, Duration::from_secs(1)] {
            let arrived = Instant::now();
            tokio::time::sleep(first_poll).await;
            let resp = within(Duration::from_secs(2), arrived, answer_after(Duration::from_secs(5))).await;
            assert_eq!(resp.status(), StatusCode::REQUEST_TIMEOUT);
            assert_eq!(arrived.elapsed(), Duration::from_secs(2));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn requests_within_their_deadline_are_answered() {
        let arrived = Instant::now();
        let at_once = within(Duration::from_secs(2), arrived, async {
            (StatusCode::OK, "at once").into_response()
        });
        assert_eq!(at_once.await.status(), StatusCode::OK);
        let later = within(Duration::from_secs(10), arrived, answer_after(Duration::from_secs(5))).await;
        assert_eq!(later.status(), StatusCode::OK);
        assert_eq!(arrived.elapsed(), Duration::from_secs(5));
    }
}
