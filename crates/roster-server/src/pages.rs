//! The server's HTML pages, each an askama template under `templates/` (escaped by
//! construction), answered by one function.

use crate::error::Rendered;
use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use roster_store::sessions::MembershipView;

/// A failed sign-in: the plain message and the trace id.
#[derive(Template)]
#[template(path = "sign_in_failed.html")]
pub struct SignInFailed<'a> {
    pub message: &'a str,
}

/// `/me` without a live session.
#[derive(Template)]
#[template(path = "not_signed_in.html")]
pub struct NotSignedIn;

/// `/me`: who is signed in, and their memberships.
#[derive(Template)]
#[template(path = "me.html")]
pub struct SignedIn<'a> {
    pub full_name: &'a str,
    pub email: &'a str,
    pub expires_at: &'a str,
    pub memberships: &'a [MembershipView],
}

/// `page` as an uncached HTML answer with `status`; marked as rendered, so the error
/// layer leaves it as it is.
pub fn respond(status: StatusCode, page: &impl Template) -> Response {
    let body = page.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, trace_id = %crate::trace::current_trace_id(), "a page did not render");
        String::from("<!doctype html><title>Roster</title><p>This page could not be shown.</p>")
    });
    let mut resp = (status, Html(body)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.extensions_mut().insert(Rendered);
    resp
}
