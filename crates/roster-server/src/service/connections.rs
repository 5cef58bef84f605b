//! SSO connections: made, changed and checked here for the admin API and the console
//! (its pages and its setup links), so each takes the same path and the same checks.

use crate::error::ApiError;
use crate::routes::admin::connection_settings::{
    resolve_metadata, settings_json, with_attribute_names, OidcSettings, SamlSettings,
};
use crate::state::AppState;
use roster_core::signin::AttributeNames;
use roster_core::{DomainName, Name, Protocol};
use roster_store::connections::{self, Connection, Spec};
use roster_store::setup_links::{self, SetupLink};
use roster_store::tokens::{self, ScimToken};
use roster_store::Ctx;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

/// OIDC settings from an admin, checked, with the client secret sealed for storage.
fn sealed(oidc: Option<OidcSettings>, state: &AppState) -> Result<Option<OidcSettings>, ApiError> {
    oidc.map(|mut o| {
        o.validate()?;
        o.seal_secret(&state.sealer)?;
        Ok(o)
    })
    .transpose()
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    /// Company id or name.
    pub company: String,
    pub name: String,
    /// `saml` or `oidc`.
    pub protocol: String,
    /// Verified domains of the company that this connection serves.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Organizations (ids or names) of the company to provision into.
    #[serde(default)]
    pub organizations: Vec<String>,
    pub default_organization: String,
    pub default_team: Option<String>,
    /// Just-in-time provisioning; on by default.
    pub jit: Option<bool>,
    /// SCIM provisioning; off by default.
    pub scim: Option<bool>,
    /// IdP-initiated sign-in; off by default.
    pub idp_initiated: Option<bool>,
    pub default_session_minutes: Option<u32>,
    pub saml: Option<SamlSettings>,
    pub oidc: Option<OidcSettings>,
    /// A3: the connection's own attribute names, tried before the standard ones:
    /// `{"email": [...], "full_name", "given_name", "family_name", "groups", "organization", "team", "role", "session_minutes"}`.
    #[schema(value_type = Option<Object>)]
    pub attribute_names: Option<AttributeNames>,
}

fn parse_domains(raw: &[String]) -> Result<Vec<DomainName>, ApiError> {
    raw.iter()
        .map(|d| DomainName::parse(d).map_err(ApiError::from))
        .collect()
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UpdateConnection {
    pub name: Option<String>,
    pub jit: Option<bool>,
    pub scim: Option<bool>,
    pub idp_initiated: Option<bool>,
    pub domains: Option<Vec<String>>,
    pub organizations: Option<Vec<String>>,
    pub default_organization: Option<String>,
    /// A team name; `null` removes it.
    #[serde(default, deserialize_with = "crate::routes::admin::double_option")]
    #[schema(value_type = Option<String>)]
    pub default_team: Option<Option<String>>,
    /// Minutes; `null` removes it.
    #[serde(default, deserialize_with = "crate::routes::admin::double_option")]
    #[schema(value_type = Option<u32>)]
    pub default_session_minutes: Option<Option<u32>>,
    pub saml: Option<SamlSettings>,
    pub oidc: Option<OidcSettings>,
    /// A3: the connection's own attribute names, tried before the standard ones:
    /// `{"email": [...], "full_name", "given_name", "family_name", "groups", "organization", "team", "role", "session_minutes"}`.
    #[schema(value_type = Option<Object>)]
    pub attribute_names: Option<AttributeNames>,
}

/// Makes a connection; a SAML metadata URL is fetched first.
pub async fn create(state: &AppState, ctx: Ctx, body: CreateConnection) -> Result<Connection, ApiError> {
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
            settings_json(protocol, resolve_metadata(body.saml).await?, sealed(body.oidc, state)?)?,
            body.attribute_names,
        )?,
    };
    let company = body.company;
    let c = state
        .store
        .write(move |db| Box::pin(async move { connections::create(db, &ctx, &company, &spec).await }))
        .await?;
    Ok(c)
}

/// Changes a connection. JIT can be turned off only while SCIM is on (J8).
pub async fn update(state: &AppState, ctx: Ctx, id: String, body: UpdateConnection) -> Result<Connection, ApiError> {
    let domains = body.domains.as_deref().map(parse_domains).transpose()?;
    let name = body.name.as_deref().map(|n| Name::parse(n, "connection")).transpose()?;
    let default_team = body
        .default_team
        .map(|t| t.as_deref().map(Name::parse_team).transpose())
        .transpose()?;
    let attribute_names = body.attribute_names;
    let saml = resolve_metadata(body.saml).await?;
    let oidc = sealed(body.oidc, state)?;
    let trace_id = ctx.trace_id.clone();
    let c = state
        .scim_auth
        .changed(
            &trace_id,
            state.store.write(move |db| {
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
                        if let (Some(names), Some(obj)) =
                            (cur.settings.get("attribute_names"), settings.as_object_mut())
                        {
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
            }),
        )
        .await?;
    Ok(c)
}

/// One finding of a connection check: the step (`settings`, `discovery` or `keys`),
/// whether it passed, and what was found or what to do.
pub struct Finding {
    pub step: String,
    pub ok: bool,
    pub message: String,
}

/// Checks a connection against its IdP: for OIDC, the stored settings, the provider's
/// discovery document (fetched now) and its signing keys, each step in words an IT
/// admin can act on; for SAML, the stored settings.
pub async fn check(state: &AppState, c: &Connection) -> Vec<Finding> {
    match c.protocol {
        Protocol::Oidc => crate::routes::sso::oidc::check(state, c).await,
        Protocol::Saml => vec![match crate::routes::sso::saml::SamlConfig::load(c) {
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
    .collect()
}

/// Issues a SCIM token for connection `id`; answers it with the secret, shown once.
pub async fn issue_scim_token(state: &AppState, ctx: Ctx, id: String) -> Result<(ScimToken, String), ApiError> {
    Ok(state
        .store
        .write(move |db| {
            Box::pin(async move {
                let c = connections::find(db, &id).await?;
                tokens::create_scim(db, &ctx, &c.id, &c.company_id).await
            })
        })
        .await?)
}

/// Revokes SCIM token `token_id` of connection `id`; it stops working at once.
pub async fn revoke_scim_token(state: &AppState, ctx: Ctx, id: String, token_id: String) -> Result<(), ApiError> {
    // Cached SCIM authentications end on every node before this answers.
    let trace_id = ctx.trace_id.clone();
    state
        .scim_auth
        .changed(
            &trace_id,
            state.store.write(move |db| {
                Box::pin(async move {
                    let c = connections::find(db, &id).await?;
                    tokens::revoke_scim(db, &ctx, &c.id, &c.company_id, &token_id).await
                })
            }),
        )
        .await?;
    Ok(())
}

/// How long a setup link works unless asked otherwise, and at most.
pub const SETUP_LINK_DEFAULT_HOURS: u32 = 72;
pub const SETUP_LINK_MAX_HOURS: u32 = 30 * 24;

/// Makes a setup link for connection `id` that works for `hours`; answers it and its
/// URL (shown once: only the secret's hash is kept).
pub async fn create_setup_link(
    state: &AppState,
    ctx: Ctx,
    id: String,
    hours: Option<u32>,
) -> Result<(SetupLink, String), ApiError> {
    let hours = hours.unwrap_or(SETUP_LINK_DEFAULT_HOURS);
    if !(1..=SETUP_LINK_MAX_HOURS).contains(&hours) {
        return Err(ApiError::bad_request(
            "invalid_expiry",
            format!("expires_in_hours must be 1..{SETUP_LINK_MAX_HOURS}"),
        ));
    }
    let expires_at = ctx.now + i64::from(hours) * 3_600_000;
    let (link, secret) = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let c = connections::find(db, &id).await?;
                setup_links::create(db, &ctx, &c.id, &c.company_id, expires_at).await
            })
        })
        .await?;
    let url = format!("{}/setup/{secret}", state.config.public_url);
    Ok((link, url))
}

/// Revokes setup link `link_id` of connection `id`: it stops working at once.
pub async fn revoke_setup_link(state: &AppState, ctx: Ctx, id: String, link_id: String) -> Result<(), ApiError> {
    state
        .store
        .write(move |db| {
            Box::pin(async move {
                let c = connections::find(db, &id).await?;
                setup_links::revoke(db, &ctx, &c.id, &link_id).await
            })
        })
        .await?;
    Ok(())
}
