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

/// The one script of the form-post page: it submits the form (allowed by its hash in
/// the page's Content-Security-Policy).
pub const FORM_POST_SCRIPT: &str = "document.forms[0].submit()";

/// An answer to an app sent as an auto-submitted form (`response_mode=form_post`).
#[derive(Template)]
#[template(path = "form_post.html")]
pub struct FormPost<'a> {
    pub action: &'a str,
    pub fields: &'a [(String, String)],
}

impl FormPost<'_> {
    pub fn script(&self) -> &'static str {
        FORM_POST_SCRIPT
    }
}

/// Home-realm discovery: the work email picks the company's sign-in.
#[derive(Template)]
#[template(path = "ask_email.html")]
pub struct AskEmail<'a> {
    pub app: &'a str,
    pub action: &'a str,
    pub problem: Option<&'a str>,
}

/// Sign out of Roster, asked without proof of which app asks.
#[derive(Template)]
#[template(path = "confirm_logout.html")]
pub struct ConfirmLogout<'a> {
    pub fields: &'a [(String, String)],
}

/// Signed out, and no app to go back to.
#[derive(Template)]
#[template(path = "signed_out.html")]
pub struct SignedOut;
