//! Connections in the console: the list of the viewer's connections, a new one (then on
//! to its guided setup page, [`super::setup_page`]), and what only the console does on
//! that page: the JIT / SCIM / IdP-initiated switches and setup links.

use super::check_token;
use super::setup_page::{console_only, done, page, refused, Access, CsrfForm, NoticeQuery, Outcome};
use super::{q, render, see_other, Nav, Problem, Viewer};
use crate::service::connections::UpdateConnection;
use crate::service::connections::{self as service, CreateConnection};
use crate::state::AppState;
use askama::Template;
use axum::extract::Path;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use roster_store::connections;
use serde::Deserialize;
use std::collections::HashMap;

pub struct ConnectionRow {
    pub id: String,
    pub name: String,
    pub company: String,
    pub protocol: &'static str,
    pub jit: bool,
    pub scim: bool,
}

#[derive(Template)]
#[template(path = "console/connections.html")]
struct ConnectionsPage {
    nav: Option<Nav>,
    csrf: String,
    operator: bool,
    connections: Vec<ConnectionRow>,
    notice: Option<String>,
}

/// `GET /admin/connections`.
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(nq): Query<NoticeQuery>,
) -> Result<Response, Problem> {
    let company = viewer.company().map(str::to_string);
    let list = state
        .store
        .read(move |db| Box::pin(async move { connections::list(db, company.as_deref()).await }))
        .await?;
    let page = ConnectionsPage {
        nav: Some(super::orgs::nav(&state, &viewer, "connections").await?),
        csrf: viewer.session.csrf.clone(),
        operator: viewer.is_operator(),
        connections: list
            .into_iter()
            .map(|c| ConnectionRow {
                protocol: c.protocol.as_str(),
                id: c.id,
                name: c.name,
                company: c.company,
                jit: c.jit,
                scim: c.scim,
            })
            .collect(),
        notice: nq.notice.filter(|n| n.len() <= 300),
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct NewConnectionForm {
    name: String,
    protocol: String,
    #[serde(default)]
    company: String,
    default_organization: String,
    #[serde(default)]
    domains: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// `POST /admin/connections`: then on to its setup page.
pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<NewConnectionForm>,
) -> Result<Response, Problem> {
    super::check_csrf(&viewer, &form.csrf, &headers)?;
    let company = viewer
        .company()
        .map_or_else(|| form.company.trim().to_string(), str::to_string);
    let body = CreateConnection {
        company,
        name: form.name,
        protocol: form.protocol,
        domains: form
            .domains
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .collect(),
        default_organization: form.default_organization.trim().to_string(),
        organizations: vec![form.default_organization.trim().to_string()],
        ..CreateConnection::default()
    };
    match service::create(&state, viewer.ctx(&state), body).await {
        Ok(c) => Ok(see_other(&format!(
            "/admin/connections/{}?notice={}",
            c.id,
            q("The connection is made. Now give the IdP the values below, and take its metadata.")
        ))),
        Err(e) if e.status.is_server_error() => Err(Problem::new(e.status, e.message)),
        Err(e) => Ok(see_other(&format!("/admin/connections?notice={}", q(&e.message)))),
    }
}

#[derive(Deserialize)]
pub struct SwitchesForm {
    #[serde(default)]
    jit: Option<String>,
    #[serde(default)]
    scim: Option<String>,
    #[serde(default)]
    idp_initiated: Option<String>,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// `POST /admin/connections/{id}/provisioning`: the JIT, SCIM and IdP-initiated switches.
pub async fn switches(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    Form(form): Form<SwitchesForm>,
) -> Result<Response, Problem> {
    console_only(&access)?;
    check_token(&access.csrf, &form.csrf, &headers)?;
    let body = UpdateConnection {
        jit: Some(form.jit.is_some()),
        scim: Some(form.scim.is_some()),
        idp_initiated: Some(form.idp_initiated.is_some()),
        ..UpdateConnection::default()
    };
    let out = match service::update(&state, access.ctx.clone(), access.connection_id.clone(), body).await {
        Ok(_) => done("Provisioning is saved."),
        Err(e) => refused(e)?,
    };
    page(&state, access, out).await
}

#[derive(Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    hours: Option<String>,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// `POST /admin/connections/{id}/setup-links`: a link for the customer's IT admin,
/// shown on this page only.
pub async fn new_link(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    Form(form): Form<LinkForm>,
) -> Result<Response, Problem> {
    console_only(&access)?;
    check_token(&access.csrf, &form.csrf, &headers)?;
    let hours = match form.hours.as_deref().map(str::trim).filter(|h| !h.is_empty()) {
        None => Ok(None),
        Some(h) => h
            .parse::<u32>()
            .map(Some)
            .map_err(|_| "The hours must be a whole number."),
    };
    let out = match hours {
        Err(why) => Outcome {
            error: Some(why.into()),
            ..Outcome::default()
        },
        Ok(hours) => {
            match service::create_setup_link(&state, access.ctx.clone(), access.connection_id.clone(), hours).await {
                Ok((_, url)) => Outcome {
                    new_link: Some(url),
                    ..Outcome::default()
                },
                Err(e) => refused(e)?,
            }
        }
    };
    page(&state, access, out).await
}

/// `POST /admin/connections/{id}/setup-links/{link}/revoke`.
pub async fn end_link(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    Path(params): Path<HashMap<String, String>>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Problem> {
    console_only(&access)?;
    let link = params.get("link").cloned().unwrap_or_default();
    check_token(&access.csrf, &form.csrf, &headers)?;
    let out = match service::revoke_setup_link(&state, access.ctx.clone(), access.connection_id.clone(), link).await {
        Ok(()) => done("The setup link is revoked: it no longer works."),
        Err(e) => refused(e)?,
    };
    page(&state, access, out).await
}
