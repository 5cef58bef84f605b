use super::connection_settings::{
    resolve_metadata, settings_json, with_attribute_names, CertificateInfo, OidcSettings, SamlSettings,
};
use crate::auth::Admin;
use crate::error::{ApiError, ApiJson, ApiQuery, ErrorBody};
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use roster_core::signin::AttributeNames;
use roster_core::{DomainName, Name, Protocol};
use roster_store::connections::{self, Connection, Spec};
use roster_store::directory::companies;
use serde::{Deserialize, Serialize};
use serde_json::Value;
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

/// OIDC settings from an admin, checked, with the client secret sealed for storage.
fn sealed(oidc: Option<OidcSettings>, state: &AppState) -> Result<Option<OidcSettings>, ApiError> {
    oidc.map(|mut o| {
        o.validate()?;
        o.seal_secret(&state.sealer)?;
        Ok(o)
    })
    .transpose()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    /// Company id or name.
    company: String,
    name: String,
    /// `saml` or `oidc`.
    protocol: String,
    /// Verified domains of the company that this connection serves.
    #[serde(default)]
    domains: Vec<String>,
    /// Organizations (ids or names) of the company to provision into.
    #[serde(default)]
    organizations: Vec<String>,
    default_organization: String,
    default_team: Option<String>,
    /// Just-in-time provisioning; on by default.
    jit: Option<bool>,
    /// SCIM provisioning; off by default.
    scim: Option<bool>,
    /// IdP-initiated sign-in; off by default.
    idp_initiated: Option<bool>,
    default_session_minutes: Option<u32>,
    saml: Option<SamlSettings>,
    oidc: Option<OidcSettings>,
    /// A3: the connection's own attribute names, tried before the standard ones:
    /// `{"email": [...], "full_name", "given_name", "family_name", "groups", "organization", "team", "role", "session_minutes"}`.
    #[schema(value_type = Option<Object>)]
    attribute_names: Option<AttributeNames>,
}

fn parse_domains(raw: &[String]) -> Result<Vec<DomainName>, ApiError> {
    raw.iter()
        .map(|d| DomainName::parse(d).map_err(ApiError::from))
        .collect()
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
    let protocol = Protocol::parse(&body.protocol)?;
    let spec = Spec {
        name: Name::parse(&body.name, "connection")?,
        protocol,
        domains: parse_domains(&body.domains)?,
        organizations: body.organizations,
        default_organization: body.default_organization,
        default_team: body.default_team.as_deref().map(Name::parse_team).transpose()?,
        jit: body.jit.unwrap_or(true),
        scim: body.scim.unwrap_or(false),
        idp_initiated: body.idp_initiated.unwrap_or(false),
        default_session_minutes: body.default_session_minutes.map(i64::from),
        settings: with_attribute_names(
            settings_json(protocol, resolve_metadata(body.saml).await?, sealed(body.oidc, &state)?)?,
            body.attribute_names,
        )?,
    };
    let ctx = admin.ctx(&state);
    let company = body.company;
    let c = state
        .store
        .write(move |db| Box::pin(async move { connections::create(db, &ctx, &company, &spec).await }))
        .await?;
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConnection {
    name: Option<String>,
    jit: Option<bool>,
    scim: Option<bool>,
    idp_initiated: Option<bool>,
    domains: Option<Vec<String>>,
    organizations: Option<Vec<String>>,
    default_organization: Option<String>,
    /// A team name; `null` removes it.
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    default_team: Option<Option<String>>,
    /// Minutes; `null` removes it.
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<u32>)]
    default_session_minutes: Option<Option<u32>>,
    saml: Option<SamlSettings>,
    oidc: Option<OidcSettings>,
    /// A3: the connection's own attribute names, tried before the standard ones:
    /// `{"email": [...], "full_name", "given_name", "family_name", "groups", "organization", "team", "role", "session_minutes"}`.
    #[schema(value_type = Option<Object>)]
    attribute_names: Option<AttributeNames>,
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
    let domains = body.domains.as_deref().map(parse_domains).transpose()?;
    let name = body.name.as_deref().map(|n| Name::parse(n, "connection")).transpose()?;
    let default_team = body
        .default_team
        .map(|t| t.as_deref().map(Name::parse_team).transpose())
        .transpose()?;
    let attribute_names = body.attribute_names;
    let saml = resolve_metadata(body.saml).await?;
    let oidc = sealed(body.oidc, &state)?;
    let ctx = admin.ctx(&state);
    let c = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let cur = connections::find(db, &id).await?;
                let mut settings = cur.settings.clone();
                if saml.is_some() || oidc.is_some() {
                    // Keep a stored OIDC client secret when the PATCH does not repeat it.
                    let mut oidc = oidc;
                    if let (Some(new), Some(old)) = (
                        oidc.as_mut(),
                        cur.settings
                            .get("oidc")
                            .and_then(|o| o.get("client_secret"))
                            .and_then(Value::as_str),
                    ) {
                        new.client_secret.get_or_insert_with(|| old.to_string());
                    }
                    settings = settings_json(cur.protocol, saml, oidc)
                        .map_err(|e| roster_store::StoreError::invalid("invalid_settings", e.message))?;
                    if let (Some(names), Some(obj)) = (cur.settings.get("attribute_names"), settings.as_object_mut()) {
                        obj.insert("attribute_names".into(), names.clone());
                    }
                }
                let settings = with_attribute_names(settings, attribute_names)
                    .map_err(|e| roster_store::StoreError::invalid("invalid_attribute_names", e.message))?;
                let spec = Spec {
                    name: match name {
                        Some(n) => n,
                        None => Name::parse(&cur.name, "connection")?,
                    },
                    protocol: cur.protocol,
                    domains: match domains {
                        Some(d) => d,
                        None => cur.domains.iter().filter_map(|d| DomainName::parse(d).ok()).collect(),
                    },
                    organizations: body.organizations.unwrap_or(cur.organizations),
                    default_organization: body.default_organization.unwrap_or(cur.default_organization_id),
                    default_team: match default_team {
                        Some(t) => t,
                        None => cur.default_team.as_deref().map(Name::parse_team).transpose()?,
                    },
                    jit: body.jit.unwrap_or(cur.jit),
                    scim: body.scim.unwrap_or(cur.scim),
                    idp_initiated: body.idp_initiated.unwrap_or(cur.idp_initiated),
                    default_session_minutes: match body.default_session_minutes {
                        Some(m) => m.map(i64::from),
                        None => cur.default_session_minutes,
                    },
                    settings,
                };
                connections::update(db, &ctx, &cur.id, &spec).await
            })
        })
        .await?;
    // Cached SCIM authentications carry the connection's settings (SCIM on or off).
    state.scim_auth.clear();
    Ok(ApiJson(ConnectionView::new(c, &state.config.public_url, state.now())))
}

/// Delete a connection with its SCIM tokens; its users' sessions end at once (T2).
#[utoipa::path(delete, path = "/connections/{id}", tag = "connections", params(("id" = String, Path, description = "id or name")),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn delete(State(state): State<AppState>, admin: Admin, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let ctx = admin.ctx(&state);
    state
        .store
        .write(move |db| Box::pin(async move { connections::delete(db, &ctx, &id).await }))
        .await?;
    state.scim_auth.clear();
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
    let findings: Vec<Finding> = match c.protocol {
        Protocol::Oidc => crate::routes::sso::oidc::check(&state, &c).await,
        Protocol::Saml => vec![match crate::routes::sso::saml::SamlConfig::load(&c) {
            Ok(_) => (
                String::from("settings"),
                true,
                "the IdP's entity id, SSO URL and certificates are set".to_string(),
            ),
            Err(f) => ("settings".into(), false, f.detail),
        }],
    }
    .into_iter()
    .map(|(step, ok, message)| Finding { step, ok, message })
    .collect();
    Ok(ApiJson(CheckReport {
        ok: findings.iter().all(|f| f.ok),
        findings,
    }))
}
