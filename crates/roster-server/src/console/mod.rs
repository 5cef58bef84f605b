//! The admin console at `/admin`: server-rendered pages (askama templates under
//! `templates/console/`), a small stylesheet and a vendored htmx, all in the binary.
//! Every form works without JavaScript; htmx only swaps the page body instead of
//! reloading it.
//!
//! Who may see what is decided here, in the server, by the [`Viewer`] every page
//! takes: the operator (who signed in with the admin token) sees every company; an
//! organization owner (signed in through their company's SSO) sees their company only,
//! and an object of another company answers "not found" whatever its URL.
//!
//! Every state-changing request is a POST carrying the session's CSRF token and coming
//! from this site; every answer carries a strict Content-Security-Policy (no inline
//! script or style), `frame-ancestors 'none'` and `Referrer-Policy: same-origin`.

mod apps;
mod audit;
mod changes;
mod chart;
mod connections;
mod domains;
mod login;
mod orgs;
mod playground;
mod session;
mod setup;
mod setup_page;

pub use session::Viewer;

use crate::error::{Failure, Kind, Rendered};
use crate::state::AppState;
use crate::trace::current_trace_id;
use askama::Template;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use roster_store::StoreError;
use subtle::ConstantTimeEq;

const HTMX: &[u8] = include_bytes!("../../assets/htmx-2.0.11.min.js");
const CSS: &[u8] = include_bytes!("../../assets/console.css");
const ICON: &[u8] = include_bytes!("../../assets/icon.svg");
const JS: &[u8] = include_bytes!("../../assets/console.js");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(orgs::overview))
        .route("/admin/login", get(login::page).post(login::operator))
        .route("/admin/sso", get(login::sso))
        .route("/admin/sso/done", get(login::sso_done))
        .route("/admin/reauth", get(login::reauth_page).post(login::reauth))
        .route("/admin/logout", post(login::logout))
        .route(
            "/admin/organizations",
            get(orgs::list).post(changes::create_organization),
        )
        .route("/admin/organizations/{org}/teams", post(changes::create_team))
        .route("/admin/organizations/{org}/invitations", post(changes::invite))
        .route(
            "/admin/organizations/{org}/invitations/{id}/revoke",
            post(changes::revoke_invitation),
        )
        .route("/admin/organizations/{org}", get(orgs::show))
        .route("/admin/organizations/{org}/members/{user}", post(orgs::member_action))
        .route("/admin/organizations/{org}/members/{user}/why", get(orgs::why))
        .route("/admin/audit", get(audit::page))
        .route(
            "/admin/connections/{id}/playground",
            get(playground::page).post(playground::run),
        )
        .route("/admin/connections", get(connections::list).post(connections::create))
        .route("/admin/connections/{id}", get(setup_page::show))
        .route("/admin/connections/{id}/saml", post(setup_page::saml))
        .route("/admin/connections/{id}/oidc", post(setup_page::oidc))
        .route("/admin/connections/{id}/check", post(setup_page::check))
        .route("/admin/connections/{id}/provisioning", post(connections::switches))
        .route("/admin/connections/{id}/scim-tokens", post(setup_page::new_token))
        .route(
            "/admin/connections/{id}/scim-tokens/{token}/revoke",
            post(setup_page::end_token),
        )
        .route("/admin/connections/{id}/setup-links", post(connections::new_link))
        .route(
            "/admin/connections/{id}/setup-links/{link}/revoke",
            post(connections::end_link),
        )
        .route("/setup/{secret}", get(setup::landing).post(setup::open))
        .route("/setup", get(setup_page::show))
        .route("/setup/saml", post(setup_page::saml))
        .route("/setup/oidc", post(setup_page::oidc))
        .route("/setup/check", post(setup_page::check))
        .route("/setup/scim-tokens", post(setup_page::new_token))
        .route("/setup/scim-tokens/{token}/revoke", post(setup_page::end_token))
        .route("/admin/apps", get(apps::apps_list).post(apps::register_app))
        .route("/admin/webhooks", get(apps::hooks_list).post(apps::register_hook))
        .route("/admin/webhooks/{id}/enabled", post(apps::toggle_hook))
        .route("/admin/domains", get(domains::page).post(domains::add))
        .route("/admin/domains/{company}/{domain}/verify", post(domains::verify))
        .route("/admin/assets/htmx.min.js", get(|| asset(HTMX, "text/javascript")))
        .route("/admin/assets/console.css", get(|| asset(CSS, "text/css")))
        .route("/admin/assets/icon.svg", get(|| asset(ICON, "image/svg+xml")))
        .route("/admin/assets/console.js", get(|| asset(JS, "text/javascript")))
        .layer(axum::middleware::from_fn(headers))
}

async fn asset(body: &'static [u8], content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// The console's security headers, on every answer under `/admin`.
async fn headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// The navigation bar of a signed-in page.
pub struct Nav {
    pub current: &'static str,
    /// The operator: sees the pages of every company's (webhooks).
    pub operator: bool,
    pub who: String,
    pub csrf: String,
}

/// A page, rendered; marked so the error layer leaves it as it is.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => {
            let mut resp = (status, Html(body)).into_response();
            resp.extensions_mut().insert(Rendered);
            resp
        }
        Err(e) => Problem::from(Failure::internal(&e)).into_response(),
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    nav: Option<Nav>,
    title: &'a str,
    message: &'a str,
    trace_id: String,
}

/// A console failure, answered as a page with its status and the trace id.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    message: String,
}

impl Problem {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "There is nothing here, or it is not yours to see.",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
}

impl From<Failure> for Problem {
    fn from(f: Failure) -> Self {
        match f.kind {
            Kind::NotFound => Self::not_found(),
            kind => Self::new(kind.status(), f.message),
        }
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        Failure::from(e).into()
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let title = match self.status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            s if s.is_server_error() => "Something went wrong",
            _ => "That did not work",
        };
        let page = ErrorPage {
            nav: None,
            title,
            message: &self.message,
            trace_id: current_trace_id(),
        };
        match page.render() {
            Ok(body) => {
                let mut resp = (self.status, Html(body)).into_response();
                resp.extensions_mut().insert(Rendered);
                resp
            }
            Err(_) => (self.status, self.message).into_response(),
        }
    }
}

/// Refuses a state-changing request that does not carry the session's CSRF token, or
/// that a browser says came from another site.
pub fn check_csrf(viewer: &Viewer, presented: &str, headers: &HeaderMap) -> Result<(), Problem> {
    check_token(&viewer.session.csrf, presented, headers)
}

/// Refuses a state-changing request that does not carry `expected` (the CSRF token of
/// the page's session), or that a browser says came from another site.
pub fn check_token(expected: &str, presented: &str, headers: &HeaderMap) -> Result<(), Problem> {
    same_site(headers)?;
    if bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) {
        Ok(())
    } else {
        Err(Problem::forbidden(
            "This form has expired. Go back, reload the page and try again.",
        ))
    }
}

/// Refuses a request a browser marks as coming from another site (`Sec-Fetch-Site`).
pub fn same_site(headers: &HeaderMap) -> Result<(), Problem> {
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        None | Some("same-origin" | "none") => Ok(()),
        Some(_) => Err(Problem::forbidden("Requests from other sites are refused.")),
    }
}

/// A redirect after a form (303: the browser follows with a GET).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Unix milliseconds as a short UTC time for a page (`2026-12-07 09:12`).
pub fn when(ms: i64) -> String {
    let t = crate::routes::ts(ms);
    t.get(..16).map(|s| s.replace('T', " ")).unwrap_or(t)
}

/// `value` escaped for a URL query.
pub fn q(value: &str) -> String {
    roster_saml::authn::url_encode(value)
}
