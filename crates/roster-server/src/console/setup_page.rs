//! A connection's guided setup page and its actions — the values to give the IdP (with
//! copy buttons), the IdP's metadata (uploaded, pasted or, for the operator, fetched
//! from a URL) or OIDC client, the certificates' expiry, SCIM tokens (shown once), a
//! test sign-in and the error log with trace ids; in the console also the JIT / SCIM /
//! IdP-initiated switches with their rules and setup links.
//!
//! The same handlers serve the console (`/admin/connections/{id}/…`) and setup links
//! (`/setup/…`): the [`Access`] they take says which connection, as whom (for the audit
//! log), and what may be done there.

use super::{check_token, render, when, Nav, Problem, Viewer};
use crate::error::ApiError;
use crate::routes::admin::connection_settings::{OidcSettings, SamlSettings};
use crate::service::connections::{self as service, UpdateConnection};
use crate::state::AppState;
use askama::Template;
use axum::extract::{FromRequestParts, Multipart, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::response::Response;
use axum::Form;
use roster_core::Protocol;
use roster_store::connections::{self, Connection};
use roster_store::{error_log, setup_links, tokens, Ctx, StoreError};
use serde::Deserialize;
use std::collections::HashMap;

/// Who works on a connection's setup page, and what they may do there.
pub struct Access {
    pub connection_id: String,
    /// The audit context of their changes.
    pub ctx: Ctx,
    pub csrf: String,
    /// Where the page's forms post (`/admin/connections/{id}` or `/setup`).
    pub base: String,
    pub nav: Option<Nav>,
    /// Through a setup link: the IdP setup only (no switches, no setup links).
    pub link: bool,
    /// Whether metadata may be fetched from a URL: the operator's only, as the fetch
    /// goes out from the server's network (owners and setup links upload or paste it).
    pub fetch_urls: bool,
}

impl Access {
    /// The connection `id` for a console viewer, if it is theirs to see.
    async fn console(state: &AppState, viewer: &Viewer, id: String) -> Result<Self, Problem> {
        let c = state
            .store
            .read(move |db| Box::pin(async move { connections::find(db, &id).await }))
            .await?;
        if !viewer.sees(&c.company_id) {
            return Err(StoreError::not_found("connection", c.id).into());
        }
        Ok(Self {
            base: format!("/admin/connections/{}", c.id),
            connection_id: c.id,
            ctx: viewer.ctx(state),
            csrf: viewer.session.csrf.clone(),
            nav: Some(super::orgs::nav(state, viewer, "connections").await?),
            link: false,
            fetch_urls: viewer.is_operator(),
        })
    }
}

/// The console's viewer and the `{id}` of the path under `/admin`; the browser that
/// claimed a setup link under `/setup`.
impl FromRequestParts<AppState> for Access {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if parts.uri.path().starts_with("/setup") {
            let visitor = super::setup::Visitor::from_request_parts(parts, state).await?;
            return Ok(visitor.access(state));
        }
        let viewer = Viewer::from_request_parts(parts, state).await?;
        let id = path_param(parts, state, "id").await?;
        Access::console(state, &viewer, id)
            .await
            .map_err(IntoResponse::into_response)
    }
}

/// The path parameter `name` of a request.
async fn path_param(parts: &mut Parts, state: &AppState, name: &str) -> Result<String, Response> {
    let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map_err(IntoResponse::into_response)?;
    params
        .get(name)
        .cloned()
        .ok_or_else(|| Problem::not_found().into_response())
}

/// Refuses what only the console does (switches, setup links) to a setup link.
pub(super) fn console_only(access: &Access) -> Result<(), Problem> {
    if access.link {
        Err(Problem::not_found())
    } else {
        Ok(())
    }
}

pub struct TokenRow {
    pub id: String,
    pub created: String,
    pub last_used: String,
    pub revoked: bool,
}

pub struct LinkRow {
    pub id: String,
    pub created: String,
    pub expires: String,
    pub state: &'static str,
    pub live: bool,
}

pub struct ErrorRow {
    pub at: String,
    pub kind: String,
    pub request: String,
    pub status: i64,
    pub detail: String,
    pub trace_id: String,
}

pub struct CertRow {
    pub subject: String,
    pub not_after: String,
}

/// What a form just did, shown once on the page it answers with.
#[derive(Default)]
pub struct Outcome {
    pub notice: Option<String>,
    pub error: Option<String>,
    pub new_token: Option<String>,
    pub new_link: Option<String>,
    pub findings: Vec<service::Finding>,
}

#[derive(Template)]
#[template(path = "console/connection.html")]
pub struct ConnectionPage {
    nav: Option<Nav>,
    base: String,
    csrf: String,
    link: bool,
    fetch_urls: bool,
    c: Connection,
    saml: bool,
    sp_entity_id: String,
    acs_url: String,
    metadata_url: String,
    redirect_uri: String,
    login_url: String,
    scim_base_url: String,
    idp_entity_id: String,
    idp_sso_url: String,
    idp_metadata_url: String,
    certificates: Vec<CertRow>,
    warnings: Vec<String>,
    issuer: String,
    client_id: String,
    secret_set: bool,
    configured: bool,
    tokens: Vec<TokenRow>,
    links: Vec<LinkRow>,
    errors: Vec<ErrorRow>,
    out: Outcome,
}

/// The setup page of `access`'s connection, with what a form just did.
pub async fn page(state: &AppState, access: Access, out: Outcome) -> Result<Response, Problem> {
    let id = access.connection_id.clone();
    let with_links = !access.link;
    let (c, token_list, link_list, error_list) = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let c = connections::find(db, &id).await?;
                let t = tokens::list_scim(db, &c.id).await?;
                let l = if with_links {
                    setup_links::list(db, &c.id).await?
                } else {
                    Vec::new()
                };
                let e = error_log::list(db, &c.id, None, 20).await?;
                Ok((c, t, l, e))
            })
        })
        .await?;
    let now = state.now();
    let public = &state.config.public_url;
    let base = format!("{public}/sso/{}/{}", c.protocol.as_str(), c.id);
    let saml_settings: SamlSettings = c
        .settings
        .get("saml")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let oidc: Option<OidcSettings> = c
        .settings
        .get("oidc")
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    let (infos, warnings) = saml_settings.certificate_report(now);
    let saml = c.protocol == Protocol::Saml;
    let configured = if saml {
        saml_settings.idp_entity_id.is_some()
            && saml_settings.idp_sso_url.is_some()
            && !saml_settings.idp_certificates.is_empty()
    } else {
        oidc.as_ref().is_some_and(|o| o.client_secret.is_some())
    };
    let never = || "never".to_string();
    let page = ConnectionPage {
        nav: access.nav,
        base: access.base,
        csrf: access.csrf,
        link: access.link,
        fetch_urls: access.fetch_urls,
        saml,
        sp_entity_id: format!("{base}/metadata"),
        acs_url: format!("{base}/acs"),
        metadata_url: format!("{base}/metadata"),
        redirect_uri: format!("{base}/callback"),
        login_url: format!("{base}/login?return_to=%2Fme"),
        scim_base_url: format!("{public}/scim/v2"),
        idp_entity_id: saml_settings.idp_entity_id.clone().unwrap_or_default(),
        idp_sso_url: saml_settings.idp_sso_url.clone().unwrap_or_default(),
        idp_metadata_url: saml_settings.idp_metadata_url.clone().unwrap_or_default(),
        certificates: infos
            .into_iter()
            .map(|i| CertRow {
                subject: i.subject,
                not_after: i.not_after.get(..10).unwrap_or(&i.not_after).to_string(),
            })
            .collect(),
        warnings,
        issuer: oidc.as_ref().map(|o| o.issuer.clone()).unwrap_or_default(),
        client_id: oidc.as_ref().map(|o| o.client_id.clone()).unwrap_or_default(),
        secret_set: oidc.as_ref().is_some_and(|o| o.client_secret.is_some()),
        configured,
        tokens: token_list
            .into_iter()
            .map(|t| TokenRow {
                id: t.id,
                created: when(t.created_at),
                last_used: t.last_used_at.map_or_else(never, when),
                revoked: t.revoked_at.is_some(),
            })
            .collect(),
        links: link_list
            .into_iter()
            .map(|l| LinkRow {
                live: l.live(now),
                state: if l.revoked_at.is_some() {
                    "revoked"
                } else if l.expires_at <= now {
                    "expired"
                } else if l.opened_at.is_some() {
                    "opened"
                } else {
                    "not opened yet"
                },
                id: l.id,
                created: when(l.created_at),
                expires: when(l.expires_at),
            })
            .collect(),
        errors: error_list
            .into_iter()
            .map(|e| ErrorRow {
                at: when(e.at),
                kind: e.kind,
                request: e.request,
                status: e.status,
                detail: e.detail,
                trace_id: e.trace_id,
            })
            .collect(),
        c,
        out,
    };
    Ok(render(StatusCode::OK, &page))
}

/// A refusal of the service as the page's error; a failure of the server as an error.
pub(super) fn refused(e: ApiError) -> Result<Outcome, Problem> {
    if e.status == StatusCode::NOT_FOUND {
        Err(Problem::not_found())
    } else if e.status.is_server_error() && e.status != StatusCode::BAD_GATEWAY {
        Err(Problem::new(e.status, e.message))
    } else {
        Ok(Outcome {
            error: Some(e.message),
            ..Outcome::default()
        })
    }
}

pub(super) fn done(notice: impl Into<String>) -> Outcome {
    Outcome {
        notice: Some(notice.into()),
        ..Outcome::default()
    }
}

/// The IdP's SAML metadata from a multipart form: an uploaded file, pasted XML or a
/// URL to fetch. Answers the CSRF token presented and the settings.
async fn metadata_form(mut form: Multipart) -> Result<(String, Result<SamlSettings, String>), Problem> {
    let bad = |e: axum::extract::multipart::MultipartError| Problem::new(StatusCode::BAD_REQUEST, e.body_text());
    let (mut csrf, mut file, mut xml, mut url) = (String::new(), String::new(), String::new(), String::new());
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        let value = field.text().await.map_err(bad)?;
        match name.as_str() {
            "_csrf" => csrf = value,
            "metadata_file" => file = value,
            "metadata_xml" => xml = value,
            "metadata_url" => url = value,
            _ => {}
        }
    }
    let given = [&file, &xml, &url].iter().filter(|v| !v.trim().is_empty()).count();
    let settings = match given {
        0 => Err("Choose the metadata file, paste its XML or give its URL.".to_string()),
        1 if !url.trim().is_empty() => Ok(SamlSettings {
            idp_metadata_url: Some(url.trim().to_string()),
            ..SamlSettings::default()
        }),
        1 => Ok(SamlSettings {
            idp_metadata_xml: Some(if file.trim().is_empty() { xml } else { file }),
            ..SamlSettings::default()
        }),
        _ => Err("Give the metadata one way only: a file, pasted XML or a URL.".to_string()),
    };
    Ok((csrf, settings))
}

/// `POST …/saml` (multipart): the IdP's SAML metadata for `access`'s connection.
pub async fn saml(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    form: Multipart,
) -> Result<Response, Problem> {
    let (state, headers) = (&state, &headers);
    let (csrf, settings) = metadata_form(form).await?;
    check_token(&access.csrf, &csrf, headers)?;
    let settings = settings.and_then(|s| {
        if s.idp_metadata_url.is_some() && !access.fetch_urls {
            Err("Upload the metadata file or paste its XML: only the operator's console fetches it from a URL.".into())
        } else {
            Ok(s)
        }
    });
    let out = match settings {
        Err(why) => Outcome {
            error: Some(why),
            ..Outcome::default()
        },
        Ok(saml) => {
            let body = UpdateConnection {
                saml: Some(saml),
                ..UpdateConnection::default()
            };
            match service::update(state, access.ctx.clone(), access.connection_id.clone(), body).await {
                Ok(_) => done("The IdP's metadata is saved: its entity id, sign-in URL and certificates."),
                Err(e) => refused(e)?,
            }
        }
    };
    page(state, access, out).await
}

#[derive(Deserialize)]
pub struct OidcForm {
    issuer: String,
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// `POST …/oidc`: the OIDC client of `access`'s connection, then checked against the
/// provider.
pub async fn oidc(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    Form(form): Form<OidcForm>,
) -> Result<Response, Problem> {
    let (state, headers) = (&state, &headers);
    check_token(&access.csrf, &form.csrf, headers)?;
    let oidc = OidcSettings {
        issuer: form.issuer.trim().to_string(),
        client_id: form.client_id.trim().to_string(),
        client_secret: Some(form.client_secret).filter(|s| !s.is_empty()),
        scopes: None,
        client_auth: None,
        use_userinfo: None,
        graph_groups: None,
        graph_url: None,
        required_claims: None,
    };
    let body = UpdateConnection {
        oidc: Some(oidc),
        ..UpdateConnection::default()
    };
    let out = match service::update(state, access.ctx.clone(), access.connection_id.clone(), body).await {
        Ok(c) => Outcome {
            notice: Some("The OIDC client is saved. The check against the provider:".into()),
            findings: service::check(state, &c).await,
            ..Outcome::default()
        },
        Err(e) => refused(e)?,
    };
    page(state, access, out).await
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default, rename = "_csrf")]
    pub csrf: String,
}

/// `POST …/check`: `access`'s connection checked against its IdP now.
pub async fn check(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Problem> {
    let (state, headers) = (&state, &headers);
    check_token(&access.csrf, &form.csrf, headers)?;
    let id = access.connection_id.clone();
    let c = state
        .store
        .read(move |db| Box::pin(async move { connections::find(db, &id).await }))
        .await?;
    let findings = service::check(state, &c).await;
    let out = Outcome {
        notice: Some(if findings.iter().all(|f| f.ok) {
            "The check passed: sign-in can work.".to_string()
        } else {
            "The check found something to fix:".to_string()
        }),
        findings,
        ..Outcome::default()
    };
    page(state, access, out).await
}

/// `POST …/scim-tokens`: a SCIM token for `access`'s connection, shown on this page only.
pub async fn new_token(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Problem> {
    let (state, headers) = (&state, &headers);
    check_token(&access.csrf, &form.csrf, headers)?;
    let out = match service::issue_scim_token(state, access.ctx.clone(), access.connection_id.clone()).await {
        Ok((_, secret)) => Outcome {
            new_token: Some(secret),
            ..Outcome::default()
        },
        Err(e) => refused(e)?,
    };
    page(state, access, out).await
}

/// `POST …/scim-tokens/{token}/revoke`: revokes a SCIM token of `access`'s connection.
pub async fn end_token(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    Path(params): Path<HashMap<String, String>>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Problem> {
    let (state, headers) = (&state, &headers);
    let token_id = params.get("token").cloned().unwrap_or_default();
    check_token(&access.csrf, &form.csrf, headers)?;
    let out = match service::revoke_scim_token(state, access.ctx.clone(), access.connection_id.clone(), token_id).await
    {
        Ok(()) => done("The SCIM token is revoked: it no longer works."),
        Err(e) => refused(e)?,
    };
    page(state, access, out).await
}

#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    pub notice: Option<String>,
}

/// `GET /admin/connections/{id}` and `GET /setup`.
pub async fn show(
    State(state): State<AppState>,
    access: Access,
    Query(nq): Query<NoticeQuery>,
) -> Result<Response, Problem> {
    let notice = nq.notice.filter(|n| n.len() <= 300);
    page(
        &state,
        access,
        Outcome {
            notice,
            ..Outcome::default()
        },
    )
    .await
}
