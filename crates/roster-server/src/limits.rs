//! Request body limits that answer cleanly.
//!
//! A server that refuses an oversized body without reading it must close the
//! connection with the body unread, and the client, still writing, often sees a reset
//! instead of the 413. So bodies up to [`DRAIN_MAX`] are read to the end — kept when
//! within the limit, discarded past it — and only then refused; larger ones are refused
//! at once. The 413 itself is rendered by the error layer (JSON or SCIM error body).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

/// Bodies up to this size are drained before a 413; larger ones are cut off.
pub const DRAIN_MAX: usize = 16 * 1024 * 1024;

/// The request with its body read whole, or the answer refusing it.
pub async fn read_body(max: usize, req: Request) -> Result<Request, Response> {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > DRAIN_MAX) {
        return Err(StatusCode::PAYLOAD_TOO_LARGE.into_response());
    }
    let mut stream = body.into_data_stream();
    let mut kept: Vec<u8> = Vec::with_capacity(declared.unwrap_or(0).min(max));
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return Err(StatusCode::BAD_REQUEST.into_response());
        };
        total += chunk.len();
        if total > DRAIN_MAX {
            return Err(StatusCode::PAYLOAD_TOO_LARGE.into_response());
        }
        if total <= max {
            kept.extend_from_slice(&chunk);
        }
    }
    if total > max {
        return Err(StatusCode::PAYLOAD_TOO_LARGE.into_response());
    }
    Ok(Request::from_parts(parts, Body::from(kept)))
}
