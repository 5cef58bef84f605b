//! Signing in to the console and out of it. The operator exchanges the admin token
//! (posted once, never put in a URL nor kept in the browser) for a console session; an
//! owner signs in through their company's SSO and gets one for that company; the
//! operator enters the token again before destructive actions.

use super::session::{self, Viewer, LIFETIME_MS};
use super::{render, same_site, see_other, Problem};
use crate::abuse::ClientIp;
use crate::routes::sso::session_token;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use roster_store::console::{self, Holder};
use roster_store::{sessions, tokens};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage<'a> {
    nav: Option<super::Nav>,
    message: Option<&'a str>,
    next: &'a str,
}

#[derive(Template)]
#[template(path = "console/reauth.html")]
struct ReauthPage<'a> {
    nav: Option<super::Nav>,
    message: Option<&'a str>,
    next: &'a str,
    csrf: &'a str,
}

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// Where to go after signing in: a console page, nothing else.
fn console_path(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/admin") && !n.contains("//") && !n.contains('\\') && n.len() <= 1024 => {
            n.to_string()
        }
        _ => "/admin".to_string(),
    }
}

/// `GET /admin/login`.
pub async fn page(Query(q): Query<Next>) -> Response {
    let next = console_path(q.next.as_deref());
    render(
        StatusCode::OK,
        &LoginPage {
            nav: None,
            message: None,
            next: &next,
        },
    )
}

#[derive(Deserialize)]
pub struct TokenForm {
    token: String,
    next: Option<String>,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// Checks an admin token posted by a browser; a wrong one counts against the client's
/// limit of failed authentications.
async fn admin_token(state: &AppState, ip: Option<&ClientIp>, token: String) -> Result<Option<String>, Problem> {
    if token.len() > 512 {
        return Ok(None);
    }
    let found = state
        .store
        .read(move |db| Box::pin(async move { tokens::verify_admin(db, &token).await }))
        .await?;
    if found.is_none() {
        if let Some(ClientIp(ip)) = ip {
            if state.limits.auth_failed(*ip).is_err() {
                return Err(Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many failed attempts. Wait a minute and try again.",
                ));
            }
        }
    }
    Ok(found)
}

/// `POST /admin/login`: the admin token for a console session.
pub async fn operator(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Result<Response, Problem> {
    same_site(&headers)?;
    let next = console_path(form.next.as_deref());
    let Some(admin_token_id) = admin_token(&state, ip.as_deref(), form.token).await? else {
        return Ok(render(
            StatusCode::UNAUTHORIZED,
            &LoginPage {
                nav: None,
                message: Some("That is not an active admin token."),
                next: &next,
            },
        ));
    };
    start(&state, Holder::Operator { admin_token_id }, &next).await
}

async fn start(state: &AppState, holder: Holder, next: &str) -> Result<Response, Problem> {
    let now = state.now();
    let (_, token) = state
        .store
        .write(move |db| Box::pin(async move { console::start(db, holder, now, now + LIFETIME_MS).await }))
        .await?;
    let mut resp = see_other(next);
    let cookie = session::cookie(state, &token, LIFETIME_MS / 1000);
    if let Ok(v) = cookie.parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

#[derive(Deserialize)]
pub struct SsoQuery {
    email: Option<String>,
}

/// `GET /admin/sso?email=`: an owner signs in through their company's SSO, then comes
/// back to `/admin/sso/done`.
pub async fn sso(Query(q): Query<SsoQuery>) -> Response {
    let email = q.email.unwrap_or_default();
    see_other(&format!(
        "/sso/start?email={}&return_to={}",
        super::q(email.trim()),
        super::q("/admin/sso/done")
    ))
}

/// `GET /admin/sso/done`: the sign-in session just made becomes a console session for
/// the company, if the person is an active owner there.
pub async fn sso_done(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, Problem> {
    let Some(token) = session_token(&headers, &state.config) else {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "Sign in through your company's SSO first.",
        ));
    };
    let now = state.now();
    let found = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let Some(s) = sessions::find_live(db, &token, now).await? else {
                    return Ok(None);
                };
                let owned = console::owned_companies(db, &s.user_id).await?;
                Ok(Some((s, owned)))
            })
        })
        .await?;
    let Some((s, owned)) = found else {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "Sign in through your company's SSO first.",
        ));
    };
    match s.company_id.filter(|c| owned.contains(c)) {
        Some(company_id) => {
            let holder = Holder::Owner {
                user_id: s.user_id,
                company_id,
                sso_session_id: s.id,
            };
            start(&state, holder, "/admin").await
        }
        None => Err(Problem::forbidden(
            "The console is for the owners of an organization. Ask an owner to make you one.",
        )),
    }
}

/// `GET /admin/reauth?next=`.
pub async fn reauth_page(viewer: Viewer, Query(q): Query<Next>) -> Response {
    let next = console_path(q.next.as_deref());
    render(
        StatusCode::OK,
        &ReauthPage {
            nav: None,
            message: None,
            next: &next,
            csrf: &viewer.session.csrf,
        },
    )
}

/// `POST /admin/reauth`: the operator enters the admin token again.
pub async fn reauth(
    State(state): State<AppState>,
    viewer: Viewer,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Result<Response, Problem> {
    super::check_csrf(&viewer, &form.csrf, &headers)?;
    let next = console_path(form.next.as_deref());
    let matches = match (
        &viewer.session.holder,
        admin_token(&state, ip.as_deref(), form.token).await?,
    ) {
        (Holder::Operator { admin_token_id }, Some(id)) => *admin_token_id == id,
        _ => false,
    };
    if !matches {
        return Ok(render(
            StatusCode::UNAUTHORIZED,
            &ReauthPage {
                nav: None,
                message: Some("That is not the admin token this session was opened with."),
                next: &next,
                csrf: &viewer.session.csrf,
            },
        ));
    }
    let (id, now) = (viewer.session.id.clone(), state.now());
    state
        .store
        .write(move |db| Box::pin(async move { console::reauthenticated(db, &id, now).await }))
        .await?;
    Ok(see_other(&next))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// `POST /admin/logout`: ends the console session (the sign-in session, if any, stays).
pub async fn logout(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Problem> {
    super::check_csrf(&viewer, &form.csrf, &headers)?;
    let id = viewer.session.id.clone();
    state
        .store
        .write(move |db| Box::pin(async move { console::end(db, &id).await }))
        .await?;
    let mut resp = see_other("/admin/login");
    if let Ok(v) = session::cookie(&state, "", 0).parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp.into_response())
}
