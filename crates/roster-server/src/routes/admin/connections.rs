use super::connection_settings::{CertificateInfo, OidcSettings, SamlSettings};
use crate::auth::Admin;
use crate::error::{ApiError, ApiJson, ApiQuery, ErrorBody};
use crate::routes::ts;
use crate::service::connections::{self as connections_service, CreateConnection, UpdateConnection};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use roster_core::signin::AttributeNames;
use roster_core::Protocol;
use roster_store::connections::{self, Connection};
use roster_store::directory::companies;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(check))
}

#[derive(Serialize, ToSchema)]
pub struct OidcView {
    issuer: String,
    client_id: String,
    client_secret_set: bool,
    /// Scopes asked for.
    scopes: String,
    /// `client_secret_basic` or `client_secret_post`.
    #[schema(value_type = String)]
    client_auth: roster_oidc::provider::ClientAuth,
    /// Whether userinfo completes the ID token's claims.
    use_userinfo: bool,
    /// Whether an Entra group overage is made up for from Microsoft Graph.
    graph_groups: bool,
    /// Claims every sign-in must carry with these values.
    #[schema(value_type = Object)]
    required_claims: std::collections::BTreeMap<String, String>,
}

#[derive(Serialize, ToSchema)]
pub struct ConnectionView {
    id: String,
    name: String,
    company: String,
    company_id: String,
    /// `saml` or `oidc`.
    protocol: String,
    domains: Vec<String>,
    organizations: Vec<String>,
    default_organization: String,
    default_team: Option<String>,
    jit: bool,
    scim: bool,
    idp_initiated: bool,
    default_session_minutes: Option<i64>,
    /// True once the IdP side is configured.
    configured: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    saml: Option<SamlSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    oidc: Option<OidcView>,
    /// A3: the connection's own attribute names.
    #[schema(value_type = Object)]
    attribute_names: AttributeNames,
    /// SAML: the IdP certificates' subjects and expiry dates.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    idp_certificates_info: Vec<CertificateInfo>,
    /// Things the admin should act on, e.g. an IdP certificate expiring within 30 days.
    warnings: Vec<String>,
    sp_entity_id: Option<String>,
    acs_url: Option<String>,
    metadata_url: Option<String>,
    login_url: String,
    redirect_uri: Option<String>,
    scim_base_url: String,
    created_at: String,
    updated_at: String,
}

impl ConnectionView {
    fn new(c: Connection, public_url: &str, now: i64) -> Self {
        let base = format!("{public_url}/sso/{}/{}", c.protocol.as_str(), c.id);
        let saml: Option<SamlSettings> = c
            .settings
            .get("saml")
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        let oidc: Option<OidcSettings> = c
            .settings
            .get("oidc")
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        let configured = match c.protocol {
            Protocol::Saml => saml.as_ref().is_some_and(|s| {
                s.idp_entity_id.is_some() && s.idp_sso_url.is_some() && !s.idp_certificates.is_empty()
            }),
            Protocol::Oidc => oidc.as_ref().is_some_and(|o| o.client_secret.is_some()),
        };
        let is_saml = c.protocol == Protocol::Saml;
        let attribute_names = c.attribute_names.clone();
        let (idp_certificates_info, warnings) = saml.as_ref().map(|s| s.certificate_report(now)).unwrap_or_default();
        Self {
            idp_certificates_info,
            warnings,
            sp_entity_id: is_saml.then(|| format!("{base}/metadata")),
            acs_url: is_saml.then(|| format!("{base}/acs")),
            metadata_url: is_saml.then(|| format!("{base}/metadata")),
            login_url: format!("{base}/login"),
            redirect_uri: (!is_saml).then(|| format!("{base}/callback")),
            scim_base_url: format!("{public_url}/scim/v2"),
            id: c.id,
            name: c.name,
            company: c.company,
            company_id: c.company_id,
            protocol: c.protocol.as_str().into(),
            domains: c.domains,
            organizations: c.organizations,
            default_organization: c.default_organization,
            default_team: c.default_team,
            jit: c.jit,
            scim: c.scim,
            idp_initiated: c.idp_initiated,
            default_session_minutes: c.default_session_minutes,
            configured,
            attribute_names,
            saml,
            oidc: oidc.map(|o| OidcView {
                issuer: o.issuer,
                client_id: o.client_id,
                client_secret_set: o.client_secret.is_some(),
                scopes: o
                    .scopes
                    .unwrap_or_else(|| super::connection_settings::DEFAULT_OIDC_SCOPES.to_string()),
                client_auth: o.client_auth.unwrap_or_default(),
                use_userinfo: o.use_userinfo.unwrap_or(true),
                graph_groups: o.graph_groups.unwrap_or(false),
                required_claims: o.required_claims.unwrap_or_default(),
            }),
            created_at: ts(c.created_at),
            updated_at: ts(c.updated_at),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this company's connections (id or name).
    company: Option<String>,
}

/// List SSO connections.
#[utoipa::path(get, path = "/connections", tag = "connections", params(ListQuery),
    responses((status = 200, body = [ConnectionView])), security(("admin_token" = [])))]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<ApiJson<Vec<ConnectionView>>, ApiError> {
    let list = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let company = match q.company {
                    Some(c) => Some(companies::find(db, &c).await?.id),
                    None => None,
                };
                connections::list(db, company.as_deref()).await
            })
        })
        .await?;
    let public = state.config.public_url.clone();
    let now = state.now();
    Ok(ApiJson(
        list.into_iter().map(|c| ConnectionView::new(c, &public, now)).collect(),
    ))
}

/// Create an SSO connection. Returns the URLs to give the IdP.
#[utoipa::path(post, path = "/connections", tag = "connections", request_body = CreateConnection,
    responses((status = 201, body = ConnectionView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("admin_token" = [])))]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<CreateConnection>,
) -> Result<(StatusCode, ApiJson<ConnectionView>), ApiError> {
    let c = connections_service::create(&state, admin.ctx(&state), body).await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(ConnectionView::new(c, &state.config.public_url, state.now())),
    ))
}

/// Read a connection (by id, or by name when unique).
#[utoipa::path(get, path = "/connections/{id}", tag = "connections", params(("id" = String, Path, description = "id or name")),
    responses((status = 200, body = ConnectionView), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn get_one(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<ApiJson<ConnectionView>, ApiError> {
    let c = state
        .store
        .read(move |db| Box::pin(async move { connections::find(db, &id).await }))
        .await?;
    Ok(ApiJson(ConnectionView::new(c, &state.config.public_url, state.now())))
}

/// Change a connection. JIT can be turned off only while SCIM is on (J8).
#[utoipa::path(patch, path = "/connections/{id}", tag = "connections", params(("id" = String, Path, description = "id or name")),
    request_body = UpdateConnection,
    responses((status = 200, body = ConnectionView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("admin_token" = [])))]
async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateConnection>,
) -> Result<ApiJson<ConnectionView>, ApiError> {
    let c = connections_service::update(&state, admin.ctx(&state), id, body).await?;
    Ok(ApiJson(ConnectionView::new(c, &state.config.public_url, state.now())))
}

/// Delete a connection with its SCIM tokens; its users' sessions end at once (T2).
#[utoipa::path(delete, path = "/connections/{id}", tag = "connections", params(("id" = String, Path, description = "id or name")),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn delete(State(state): State<AppState>, admin: Admin, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let ctx = admin.ctx(&state);
    let trace_id = ctx.trace_id.clone();
    state
        .scim_auth
        .changed(
            &trace_id,
            state
                .store
                .write(move |db| Box::pin(async move { connections::delete(db, &ctx, &id).await })),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One finding of a connection check.
#[derive(Serialize, ToSchema)]
pub struct Finding {
    /// `settings`, `discovery` or `keys`.
    step: String,
    ok: bool,
    /// What was found, or what is wrong and what to do.
    message: String,
}

#[derive(Serialize, ToSchema)]
pub struct CheckReport {
    /// Whether every step passed: sign-in can work.
    ok: bool,
    findings: Vec<Finding>,
}

/// Check a connection against its IdP: for OIDC, the stored settings, the provider's
/// discovery document (fetched now) and its signing keys, each step in words an IT
/// admin can act on; for SAML, the stored settings.
#[utoipa::path(post, path = "/connections/{id}/check", tag = "connections", params(("id" = String, Path, description = "id or name")),
    responses((status = 200, body = CheckReport), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn check(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<ApiJson<CheckReport>, ApiError> {
    let c = state
        .store
        .read(move |db| Box::pin(async move { connections::find(db, &id).await }))
        .await?;
    let findings: Vec<Finding> = connections_service::check(&state, &c)
        .await
        .into_iter()
        .map(|f| Finding {
            step: f.step,
            ok: f.ok,
            message: f.message,
        })
        .collect();
    Ok(ApiJson(CheckReport {
        ok: findings.iter().all(|f| f.ok),
        findings,
    }))
}
