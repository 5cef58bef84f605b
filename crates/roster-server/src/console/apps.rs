//! The apps and webhooks pages. Apps (OAuth 2.0 clients) belong to a company: an owner
//! sees and registers their company's. A webhook endpoint may take every company's
//! events, so only the operator sees and manages endpoints. Secrets are shown once, on
//! the page that made them.

use super::{check_csrf, render, when, Nav, Problem, Viewer};
use crate::error::ApiError;
use crate::service::apps::CreateApp;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use roster_oidc::client::ClientType;
use roster_store::{apps, webhooks};
use serde::Deserialize;

pub struct AppRow {
    pub id: String,
    pub name: String,
    pub company: String,
    pub client_type: String,
    pub redirect_uris: String,
    pub organizations: String,
    pub created: String,
}

/// A secret just made, shown once.
pub struct Shown {
    pub what: String,
    pub id: String,
    pub secret: Option<String>,
}

#[derive(Template)]
#[template(path = "console/apps.html")]
struct AppsPage {
    nav: Option<Nav>,
    csrf: String,
    operator: bool,
    apps: Vec<AppRow>,
    shown: Option<Shown>,
    error: Option<String>,
}

async fn apps_page(
    state: &AppState,
    viewer: &Viewer,
    shown: Option<Shown>,
    error: Option<String>,
) -> Result<Response, Problem> {
    let company = viewer.company().map(str::to_string);
    let list = state
        .store
        .read(move |db| Box::pin(async move { apps::list(db, company.as_deref()).await }))
        .await?;
    let page = AppsPage {
        nav: Some(super::orgs::nav(state, viewer, "apps").await?),
        csrf: viewer.session.csrf.clone(),
        operator: viewer.is_operator(),
        apps: list
            .into_iter()
            .map(|a| AppRow {
                organizations: if a.organizations.is_empty() {
                    "all of the company's".into()
                } else {
                    a.organizations.join(", ")
                },
                redirect_uris: a.redirect_uris.join(" "),
                created: when(a.created_at),
                id: a.id,
                name: a.name,
                company: a.company,
                client_type: a.client_type,
            })
            .collect(),
        shown,
        error,
    };
    Ok(render(StatusCode::OK, &page))
}

/// A refusal as the page's error; a failure of the server as an error page.
fn refusal(e: ApiError) -> Result<String, Problem> {
    if e.status.is_server_error() {
        Err(Problem::new(e.status, e.message))
    } else {
        Ok(e.message)
    }
}

/// `GET /admin/apps`.
pub async fn apps_list(State(state): State<AppState>, viewer: Viewer) -> Result<Response, Problem> {
    apps_page(&state, &viewer, None, None).await
}

#[derive(Deserialize)]
pub struct NewApp {
    #[serde(default)]
    company: String,
    name: String,
    client_type: String,
    redirect_uris: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// `POST /admin/apps`: registers an app; a confidential app's secret is shown once.
pub async fn register_app(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<NewApp>,
) -> Result<Response, Problem> {
    check_csrf(&viewer, &form.csrf, &headers)?;
    let client_type = match form.client_type.as_str() {
        "public" => ClientType::Public,
        _ => ClientType::Confidential,
    };
    let body = CreateApp {
        company: viewer
            .company()
            .map_or_else(|| form.company.trim().to_string(), str::to_string),
        name: form.name,
        redirect_uris: form.redirect_uris.split_whitespace().map(str::to_string).collect(),
        client_type: Some(client_type),
        ..CreateApp::default()
    };
    match crate::service::apps::create(&state, viewer.ctx(&state), body).await {
        Ok((app, secret)) => {
            let shown = Shown {
                what: format!("The app {} is registered.", app.name),
                id: app.id,
                secret,
            };
            apps_page(&state, &viewer, Some(shown), None).await
        }
        Err(e) => apps_page(&state, &viewer, None, Some(refusal(e)?)).await,
    }
}

pub struct DeliveryRow {
    pub at: String,
    pub event_type: String,
    pub attempt: i32,
    pub outcome: String,
    pub ok: bool,
    pub latency_ms: i64,
}

pub struct HookRow {
    pub id: String,
    pub url: String,
    pub events: String,
    pub enabled: bool,
    pub state: String,
    pub deliveries: Vec<DeliveryRow>,
}

#[derive(Template)]
#[template(path = "console/webhooks.html")]
struct WebhooksPage {
    nav: Option<Nav>,
    csrf: String,
    hooks: Vec<HookRow>,
    shown: Option<Shown>,
    error: Option<String>,
    notice: Option<String>,
}

/// Only the operator: an endpoint may take every company's events.
fn operator_only(viewer: &Viewer) -> Result<(), Problem> {
    if viewer.is_operator() {
        Ok(())
    } else {
        Err(Problem::forbidden(
            "Webhook endpoints may take every company's events: only the operator manages them.",
        ))
    }
}

#[derive(Default)]
struct Said {
    shown: Option<Shown>,
    error: Option<String>,
    notice: Option<String>,
}

async fn hooks_page(state: &AppState, viewer: &Viewer, said: Said) -> Result<Response, Problem> {
    let hooks = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let mut rows = Vec::new();
                for w in webhooks::list(db).await? {
                    let deliveries = webhooks::deliveries(db, &w.id, 10).await?;
                    rows.push((w, deliveries));
                }
                Ok(rows)
            })
        })
        .await?;
    let page = WebhooksPage {
        nav: Some(super::orgs::nav(state, viewer, "webhooks").await?),
        csrf: viewer.session.csrf.clone(),
        hooks: hooks
            .into_iter()
            .map(|(w, deliveries)| HookRow {
                state: match (w.enabled, w.failing_since) {
                    (false, _) => "disabled".into(),
                    (true, Some(since)) => format!("failing since {} ({} attempts)", when(since), w.attempts),
                    (true, None) => "delivering".into(),
                },
                events: if w.types.is_empty() {
                    "all".into()
                } else {
                    w.types.join(", ")
                },
                id: w.id,
                url: w.url,
                enabled: w.enabled,
                deliveries: deliveries
                    .into_iter()
                    .map(|d| DeliveryRow {
                        at: when(d.at),
                        ok: d.status.is_some_and(|s| (200..300).contains(&s)),
                        outcome: match (d.status, d.error) {
                            (Some(s), _) => s.to_string(),
                            (None, Some(e)) => e,
                            (None, None) => "no answer".into(),
                        },
                        event_type: d.event_type,
                        attempt: d.attempt,
                        latency_ms: d.latency_ms,
                    })
                    .collect(),
            })
            .collect(),
        shown: said.shown,
        error: said.error,
        notice: said.notice,
    };
    Ok(render(StatusCode::OK, &page))
}

/// `GET /admin/webhooks`.
pub async fn hooks_list(State(state): State<AppState>, viewer: Viewer) -> Result<Response, Problem> {
    operator_only(&viewer)?;
    hooks_page(&state, &viewer, Said::default()).await
}

#[derive(Deserialize)]
pub struct NewHook {
    url: String,
    #[serde(default)]
    events: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// `POST /admin/webhooks`: registers an endpoint; its secret is shown once.
pub async fn register_hook(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<NewHook>,
) -> Result<Response, Problem> {
    operator_only(&viewer)?;
    check_csrf(&viewer, &form.csrf, &headers)?;
    let events = form
        .events
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    let said = match crate::service::webhooks::register(
        &state,
        viewer.ctx(&state),
        form.url.trim().to_string(),
        events,
        Vec::new(),
    )
    .await
    {
        Ok((hook, secret)) => Said {
            shown: Some(Shown {
                what: format!(
                    "The endpoint {} is registered: it takes the events from now on.",
                    hook.url
                ),
                id: hook.id,
                secret: Some(secret),
            }),
            ..Said::default()
        },
        Err(e) => Said {
            error: Some(refusal(e)?),
            ..Said::default()
        },
    };
    hooks_page(&state, &viewer, said).await
}

#[derive(Deserialize)]
pub struct Toggle {
    enabled: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// `POST /admin/webhooks/{id}/enabled`: turns an endpoint off, or on again from where it
/// stopped.
pub async fn toggle_hook(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<Toggle>,
) -> Result<Response, Problem> {
    operator_only(&viewer)?;
    check_csrf(&viewer, &form.csrf, &headers)?;
    let enabled = form.enabled == "on";
    let ctx = viewer.ctx(&state);
    let hook = state
        .store
        .write(move |db| {
            Box::pin(
                async move { webhooks::set_enabled(db, &ctx, &id, enabled, "an admin asked, in the console").await },
            )
        })
        .await?;
    let said = Said {
        notice: Some(format!(
            "{} is {}.",
            hook.url,
            if hook.enabled { "on again" } else { "off" }
        )),
        ..Said::default()
    };
    hooks_page(&state, &viewer, said).await
}
