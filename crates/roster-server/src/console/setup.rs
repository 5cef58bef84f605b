//! Self-serve setup links, as the customer's IT admin sees them. Opening
//! `/setup/{secret}` claims the link for this browser (a cookie of its own, kept hashed,
//! apart from the console's and the sign-in's); `/setup` is then that one connection's
//! setup page — the values to give the IdP, its metadata or OIDC client, SCIM tokens and
//! a test sign-in — and nothing else: a [`Visitor`] is not a console [`super::Viewer`],
//! so no other console page takes it. Every change is audited with the link as actor.

use super::setup_page::Access;
use super::Problem;
use crate::state::AppState;
use crate::trace::current_trace_id;
use askama::Template;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use roster_store::connections;
use roster_store::setup_links::{self, Opened, SetupLink};
use roster_store::Ctx;

fn https(state: &AppState) -> bool {
    state.config.public_url.starts_with("https://")
}

/// The cookie's name: `__Host-` (no Domain, Path=/, Secure) when the public URL is
/// https. `SameSite=Lax`: a link arrives by mail or chat, from another site.
fn cookie_name(state: &AppState) -> &'static str {
    if https(state) {
        "__Host-roster_setup"
    } else {
        "roster_setup"
    }
}

fn cookie(state: &AppState, value: &str, max_age_secs: i64) -> String {
    Cookie::build((cookie_name(state), value.to_string()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(https(state))
        .max_age(time::Duration::seconds(max_age_secs.max(0)))
        .build()
        .to_string()
}

fn browser(state: &AppState, headers: &HeaderMap) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(cookie_name(state))
        .map(|c| c.value().trim().to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

fn gone() -> Problem {
    Problem::new(
        StatusCode::GONE,
        "This setup link has expired or was revoked. Ask whoever sent it for a new one.",
    )
}

#[derive(Template)]
#[template(path = "console/setup_start.html")]
struct StartPage<'a> {
    nav: Option<super::Nav>,
    connection: &'a str,
    company: &'a str,
    secret: &'a str,
}

/// `GET /setup/{secret}`: what the link is for, and a button that opens it. Opening is
/// a POST, so the robots that fetch links in mail and chat (previews, scanners) do not
/// use it up.
pub async fn landing(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(secret): Path<String>,
) -> Result<Response, Problem> {
    if secret.len() > 128 {
        return Err(gone());
    }
    let now = state.now();
    let mine = browser(&state, &headers);
    let lookup = secret.clone();
    let found = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let Some((link, claimed_by)) = setup_links::find(db, &lookup).await? else {
                    return Ok(None);
                };
                let c = connections::find(db, &link.connection_id).await?;
                Ok(Some((link, claimed_by, c)))
            })
        })
        .await?;
    let Some((_, claimed_by, c)) = found.filter(|(l, _, _)| l.live(now)) else {
        return Err(gone());
    };
    match claimed_by {
        Some(by) if mine.as_deref().is_some_and(|m| setup_links::is_browser(m, &by)) => Ok(super::see_other("/setup")),
        Some(_) => Err(taken()),
        None => Ok(super::render(
            StatusCode::OK,
            &StartPage {
                nav: None,
                connection: &c.name,
                company: &c.company,
                secret: &secret,
            },
        )),
    }
}

fn taken() -> Problem {
    Problem::forbidden(
        "This setup link was already opened in another browser, and works there only. \
         Ask whoever sent it for a new one.",
    )
}

/// `POST /setup/{secret}`: claims the link for this browser, then on to `/setup`.
pub async fn open(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(secret): Path<String>,
) -> Result<Response, Problem> {
    super::same_site(&headers)?;
    if secret.len() > 128 {
        return Err(gone());
    }
    let now = state.now();
    let mine = browser(&state, &headers);
    let trace = current_trace_id();
    let opened = state
        .store
        .write(move |db| Box::pin(async move { setup_links::open(db, &secret, mine.as_deref(), now, &trace).await }))
        .await?;
    let mut resp = super::see_other("/setup");
    match opened {
        Opened::Claimed(link, value) => {
            let set = cookie(&state, &value, (link.expires_at - now) / 1000);
            if let Ok(v) = header::HeaderValue::from_str(&set) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            Ok(resp)
        }
        Opened::Again(_) => Ok(resp),
        Opened::Taken => Err(taken()),
        Opened::Gone => Err(gone()),
    }
}

/// The browser that claimed a live setup link.
pub struct Visitor {
    link: SetupLink,
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(value) = browser(state, &parts.headers) else {
            return Err(gone().into_response());
        };
        let now = state.now();
        let found = state
            .store
            .read(move |db| Box::pin(async move { setup_links::find_by_browser(db, &value, now).await }))
            .await
            .map_err(|e| Problem::from(e).into_response())?;
        match found {
            Some(link) => Ok(Visitor { link }),
            None => Err(gone().into_response()),
        }
    }
}

impl Visitor {
    /// What the link lets its browser do: its connection's IdP setup, as the link.
    pub(super) fn access(&self, state: &AppState) -> Access {
        Access {
            connection_id: self.link.connection_id.clone(),
            ctx: Ctx::new(
                "setup_link",
                Some(self.link.id.clone()),
                current_trace_id(),
                state.now(),
            ),
            csrf: self.link.csrf.clone(),
            base: "/setup".into(),
            nav: None,
            link: true,
            fetch_urls: false,
        }
    }
}
