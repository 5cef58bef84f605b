//! `/oauth2/authorize`: an app asks for a code for whoever is at the browser.
//!
//! With a live Roster session of the app's company the code is issued at once (the apps
//! are the company's own: no consent screen). Otherwise the request waits
//! (`oauth2_pending`) while the person signs in through their company's IdP, picked by
//! `login_hint` (an email's verified domain), `organization`, or an email they type on
//! Roster's page; the sign-in returns to `/oauth2/authorize/resume/{id}`, which issues
//! the code. `prompt=none` never shows a page: without a usable session the app hears
//! `login_required`.

use super::{params_of, parse_form};
use crate::error::Failure;
use crate::pages;
use crate::routes::sso::session_token;
use crate::service::oauth2::{self as service, CodeOutcome};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use roster_core::Email;
use roster_oidc::grant::{self, AuthParams, AuthRequest, ErrorAnswer, Prompt, Refusal, ResponseMode};
use roster_store::apps::{self, App};
use roster_store::oauth2::{self as store, Pending};
use roster_store::sessions::{self, Session};
use roster_store::tokens::random_secret;
use roster_store::{connections, StoreError};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// How long a request waits for the person to sign in.
const PENDING_MS: i64 = 15 * 60_000;

pub async fn get(State(state): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    start(&state, &headers, &Method::GET, q.as_deref(), &[]).await
}

pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    start(&state, &headers, &Method::POST, None, &body).await
}

fn page(status: StatusCode, message: &str) -> Response {
    pages::respond(status, &pages::SignInFailed { message })
}

fn failed(f: &Failure) -> Response {
    page(
        f.kind.status(),
        &format!("{} (trace id {})", f.message, crate::trace::current_trace_id()),
    )
}

async fn start(state: &AppState, headers: &HeaderMap, method: &Method, query: Option<&str>, body: &[u8]) -> Response {
    let params = match params_of(method, query, headers, body) {
        Ok(p) => p,
        Err(e) => return page(StatusCode::BAD_REQUEST, &e.description),
    };
    let Ok(params) = serde_json::to_value(&params).and_then(serde_json::from_value::<AuthParams>) else {
        return page(StatusCode::BAD_REQUEST, "The sign-in request could not be read.");
    };
    let Some(client_id) = params.client_id.clone().filter(|c| !c.is_empty() && c.len() <= 128) else {
        return page(
            StatusCode::BAD_REQUEST,
            "The app did not say who it is (client_id is missing).",
        );
    };
    let app = match find_app(state, &client_id).await {
        Ok(Some(app)) => app,
        Ok(None) => {
            return page(
                StatusCode::BAD_REQUEST,
                "This app is not registered with Roster (unknown client_id).",
            )
        }
        Err(f) => return failed(&f),
    };
    let registered = grant::Registered {
        redirect_uris: &app.redirect_uris,
        public: app.client_type == "public",
    };
    let req = match grant::check_authorization(&params, &registered) {
        Ok(r) => r,
        Err(Refusal::Page(message)) => return page(StatusCode::BAD_REQUEST, &message),
        Err(Refusal::Redirect(e)) => return answer_error(state, &e),
    };
    let session = match usable_session(state, headers, &app, &req, None).await {
        Ok(s) => s,
        Err(f) => return failed(&f),
    };
    if let Some(session) = session {
        return issue(state, &app, &req, &session).await;
    }
    if req.prompt == Prompt::None {
        return answer_error(
            state,
            &to_app(&req, "login_required", "the person is not signed in to Roster"),
        );
    }
    // Wait for the sign-in.
    let now = state.now();
    let pending = Pending {
        id: random_secret(),
        app_id: app.id.clone(),
        request: serde_json::to_value(&req).unwrap_or(Value::Null),
        created_at: now,
    };
    let id = pending.id.clone();
    let stored = state
        .store
        .write(move |db| Box::pin(async move { store::remember_pending(db, &pending, now + PENDING_MS).await }))
        .await;
    if let Err(e) = stored {
        return failed(&Failure::from(e));
    }
    let routed = match (&req.login_hint, &req.organization) {
        (_, Some(org)) => by_organization(state, &app, org).await,
        (Some(hint), None) => by_email(state, &app, hint).await,
        (None, None) => Ok(None),
    };
    match routed {
        Ok(Some(login)) => to_login(&login, &id, &req),
        Ok(None) => ask_email(&app, &id, None, StatusCode::OK),
        Err(f) => failed(&f),
    }
}

/// `GET /oauth2/authorize/resume/{id}[?email=]`: back from the sign-in (or from the
/// email page).
pub async fn resume(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let now = state.now();
    let pending_id = id.clone();
    let found = state
        .store
        .read(move |db| Box::pin(async move { store::find_pending(db, &pending_id, now).await }))
        .await;
    let pending = match found {
        Ok(Some(p)) => p,
        Ok(None) => {
            return page(
                StatusCode::NOT_FOUND,
                "This sign-in request has expired or was already answered. Go back to the app and sign in again.",
            )
        }
        Err(e) => return failed(&Failure::from(e)),
    };
    let Ok(req) = serde_json::from_value::<AuthRequest>(pending.request.clone()) else {
        return page(
            StatusCode::BAD_REQUEST,
            "This sign-in request cannot be used. Go back to the app and sign in again.",
        );
    };
    let app = match find_app(&state, &pending.app_id).await {
        Ok(Some(app)) => app,
        Ok(None) => return page(StatusCode::NOT_FOUND, "This app is no longer registered with Roster."),
        Err(f) => return failed(&f),
    };
    // The app may have been changed meanwhile: the redirect URI must still be its own.
    if !grant::is_registered(&app.redirect_uris, &req.redirect_uri) {
        return page(
            StatusCode::BAD_REQUEST,
            "The app no longer accepts this sign-in. Go back to the app and sign in again.",
        );
    }
    match usable_session(&state, &headers, &app, &req, Some(pending.created_at)).await {
        Ok(Some(session)) => {
            let id = pending.id.clone();
            // Answered once: a second resume of the same request (a double click) finds
            // it gone.
            match state
                .store
                .write(move |db| Box::pin(async move { store::forget_pending(db, &id).await }))
                .await
            {
                Ok(true) => return issue(&state, &app, &req, &session).await,
                Ok(false) => {
                    return page(
                        StatusCode::NOT_FOUND,
                        "This sign-in request was already answered. Go back to the app.",
                    )
                }
                Err(e) => return failed(&Failure::from(e)),
            }
        }
        Ok(None) => {}
        Err(f) => return failed(&f),
    }
    let email = parse_form(q.as_deref().unwrap_or_default().as_bytes())
        .ok()
        .and_then(|mut p| p.remove("email"));
    let Some(email) = email else {
        return ask_email(&app, &pending.id, None, StatusCode::OK);
    };
    match by_email(&state, &app, &email).await {
        Ok(Some(login)) => to_login(&login, &pending.id, &req),
        Ok(None) => ask_email(
            &app,
            &pending.id,
            Some("No sign-in of this app's company serves that email address. Check it, or ask your administrator."),
            StatusCode::NOT_FOUND,
        ),
        Err(f) => failed(&f),
    }
}

async fn find_app(state: &AppState, client_id: &str) -> Result<Option<App>, Failure> {
    let id = client_id.to_string();
    match state
        .store
        .read(move |db| Box::pin(async move { apps::find(db, &id).await }))
        .await
    {
        Ok(app) => Ok(Some(app)),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(Failure::from(e)),
    }
}

/// The browser's live session, if it is of the app's company and fits the request:
/// not when `prompt=login` asked for a new sign-in (one started after `signed_in_after`,
/// the request's arrival, is new), nor older than `max_age`.
async fn usable_session(
    state: &AppState,
    headers: &HeaderMap,
    app: &App,
    req: &AuthRequest,
    signed_in_after: Option<i64>,
) -> Result<Option<Session>, Failure> {
    let Some(token) = session_token(headers, &state.config) else {
        return Ok(None);
    };
    let now = state.now();
    let found = state
        .store
        .read(move |db| Box::pin(async move { sessions::find_live(db, &token, now).await }))
        .await?;
    let Some(s) = found.filter(|s| s.company_id.as_deref() == Some(app.company_id.as_str())) else {
        return Ok(None);
    };
    if req.prompt == Prompt::Login && signed_in_after.is_none_or(|t| s.created_at < t) {
        return Ok(None);
    }
    if let Some(max_age) = req.max_age {
        if now - s.created_at > max_age.saturating_mul(1000) && signed_in_after.is_none_or(|t| s.created_at < t) {
            return Ok(None);
        }
    }
    if now - s.last_seen_at >= sessions::TOUCH_EVERY_MS {
        let id = s.id.clone();
        state
            .store
            .write(move |db| Box::pin(async move { sessions::touch(db, &id, now).await }))
            .await?;
    }
    Ok(Some(s))
}

async fn issue(state: &AppState, app: &App, req: &AuthRequest, session: &Session) -> Response {
    match service::issue_code(state, app, req, session).await {
        Ok(CodeOutcome::Issued(code)) => {
            let mut params = vec![("code", code.as_str())];
            if let Some(s) = &req.state {
                params.push(("state", s));
            }
            answer(state, &req.redirect_uri, req.response_mode, &params)
        }
        Ok(CodeOutcome::Denied(why)) => answer_error(state, &to_app(req, "access_denied", &why)),
        Err(f) => failed(&f),
    }
}

fn to_app(req: &AuthRequest, error: &'static str, description: &str) -> ErrorAnswer {
    ErrorAnswer {
        redirect_uri: req.redirect_uri.clone(),
        response_mode: req.response_mode,
        state: req.state.clone(),
        error,
        description: description.to_string(),
    }
}

fn answer_error(state: &AppState, e: &ErrorAnswer) -> Response {
    let mut params = vec![("error", e.error), ("error_description", e.description.as_str())];
    if let Some(s) = &e.state {
        params.push(("state", s));
    }
    answer(state, &e.redirect_uri, e.response_mode, &params)
}

/// The answer to the app, with `iss` (RFC 9207): a redirect, or an auto-submitted form.
fn answer(state: &AppState, redirect_uri: &str, mode: ResponseMode, params: &[(&str, &str)]) -> Response {
    let issuer = state.config.public_url.trim_end_matches('/');
    let mut all = params.to_vec();
    all.push(("iss", issuer));
    match mode {
        ResponseMode::Query => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, grant::answer_url(redirect_uri, &all)),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
        )
            .into_response(),
        ResponseMode::FormPost => {
            let fields: Vec<(String, String)> = all.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect();
            let mut resp = pages::respond(
                StatusCode::OK,
                &pages::FormPost {
                    action: redirect_uri,
                    fields: &fields,
                },
            );
            let csp = format!(
                "default-src 'none'; script-src '{}'; frame-ancestors 'none'; base-uri 'none'",
                form_post_script_hash()
            );
            if let Ok(v) = HeaderValue::from_str(&csp) {
                resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
            }
            resp
        }
    }
}

/// The CSP source of the one script the form-post page runs (it submits the form).
fn form_post_script_hash() -> String {
    use base64::Engine;
    let digest = Sha256::digest(pages::FORM_POST_SCRIPT.as_bytes());
    format!("sha256-{}", base64::engine::general_purpose::STANDARD.encode(digest))
}

/// The login path of the connection `c`.
fn login_path(c: &connections::Connection) -> String {
    format!("/sso/{}/{}/login", c.protocol.as_str(), c.id)
}

/// The connection of the app's company serving `email`'s verified domain.
async fn by_email(state: &AppState, app: &App, email: &str) -> Result<Option<String>, Failure> {
    let Ok(email) = Email::parse(email.trim()) else {
        return Ok(None);
    };
    let domain = email.domain().to_string();
    let found = state
        .store
        .read(move |db| Box::pin(async move { connections::find_by_domain(db, &domain).await }))
        .await?;
    Ok(found.filter(|c| c.company_id == app.company_id).map(|c| login_path(&c)))
}

/// The connection of the app's company serving organization `org`.
async fn by_organization(state: &AppState, app: &App, org: &str) -> Result<Option<String>, Failure> {
    let (company, org) = (app.company_id.clone(), org.to_string());
    let found = state
        .store
        .read(move |db| Box::pin(async move { connections::find_for_organization(db, &company, &org).await }))
        .await?;
    Ok(found.map(|c| login_path(&c)))
}

/// To the connection's login, returning to the pending request; the IdP is asked to
/// authenticate the person again when the app asked for a fresh sign-in (`prompt=login`,
/// `max_age`), so that `auth_time` is a real authentication and not the IdP's session.
fn to_login(login: &str, pending_id: &str, req: &AuthRequest) -> Response {
    let back = format!("/oauth2/authorize/resume/{pending_id}");
    let mut to = format!("{login}?return_to={}", roster_saml::authn::url_encode(&back));
    if req.prompt == Prompt::Login || req.max_age.is_some() {
        to.push_str("&force=1");
    }
    if let Some(hint) = &req.login_hint {
        to.push_str(&format!("&login_hint={}", roster_saml::authn::url_encode(hint)));
    }
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, to), (header::CACHE_CONTROL, "no-store".to_string())],
    )
        .into_response()
}

fn ask_email(app: &App, pending_id: &str, problem: Option<&str>, status: StatusCode) -> Response {
    pages::respond(
        status,
        &pages::AskEmail {
            app: &app.name,
            action: &format!("/oauth2/authorize/resume/{pending_id}"),
            problem,
        },
    )
}
