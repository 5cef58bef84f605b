//! OIDC per connection: the login redirect and the callback.
//!
//! The login makes a fresh `state` (the pending sign-in's id), `nonce` and PKCE verifier,
//! stores them with the hash of a secret set as a cookie on the browser, and sends the
//! browser to the provider. The callback uses up the pending sign-in bound to that
//! browser, exchanges the code, verifies the ID token (`roster-oidc`), completes its
//! claims with userinfo, and then signs the person in exactly as the ACS does: facts,
//! plan, apply, session (J10: a denied sign-in changes nothing).

use super::{cleared_request_cookie, request_binding, request_cookie, safe_return_to, Arrival, Return, SsoFailure};
use crate::oidc_client::{Client, Provider, ProviderError};
use crate::routes::admin::connection_settings::{OidcSettings, DEFAULT_GRAPH_URL, DEFAULT_OIDC_SCOPES};
use crate::state::AppState;
use crate::trace::current_trace_id;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use roster_core::signin::{read_facts, RawAttributes, Warning};
use roster_core::Protocol;
use roster_oidc::provider::{AuthorizationRequest, ClientAuth};
use roster_oidc::{claims, verify_id_token, Expectations, OidcError};
use roster_store::connections::{self, Connection};
use roster_store::oidc::{self, OidcRequest};
use roster_store::{tokens, StoreError};
use serde::Deserialize;
use serde_json::{Map, Value};

/// How long a sign-in may take at the provider.
const REQUEST_TTL_MS: i64 = 10 * 60 * 1000;
/// Clock difference tolerated with the provider, as for SAML.
const SKEW_SECS: i64 = 120;

/// The redirect URI of OIDC connection `id` (registered at the provider).
pub fn redirect_uri(public_url: &str, id: &str) -> String {
    format!("{public_url}/sso/oidc/{id}/callback")
}

/// A connection's OIDC settings, read for use (the client secret opened).
struct OidcConfig {
    issuer: String,
    client_id: String,
    client_secret: String,
    scopes: String,
    client_auth: ClientAuth,
    use_userinfo: bool,
    /// Where to read groups from on an Entra group overage, when the connection asks.
    graph: Option<String>,
    /// Claims every sign-in must carry with these values.
    required_claims: std::collections::BTreeMap<String, String>,
}

impl OidcConfig {
    fn load(state: &AppState, c: &Connection) -> Result<Self, SsoFailure> {
        let s: OidcSettings = c
            .settings
            .get("oidc")
            .filter(|v| !v.is_null())
            .map(|v| serde_json::from_value(v.clone()))
            .transpose()
            .map_err(|e| SsoFailure::not_configured(format!("the stored OIDC settings do not read: {e}")))?
            .ok_or_else(|| SsoFailure::not_configured("no OIDC settings (issuer, client_id, client_secret)"))?;
        let sealed = s
            .client_secret
            .ok_or_else(|| SsoFailure::not_configured("no client secret"))?;
        let client_secret = state
            .sealer
            .open(&sealed)
            .map_err(|e| SsoFailure::not_configured(format!("the client secret cannot be opened: {e}")))?;
        Ok(Self {
            issuer: s.issuer.trim().to_string(),
            client_id: s.client_id,
            client_secret,
            scopes: s.scopes.unwrap_or_else(|| DEFAULT_OIDC_SCOPES.to_string()),
            client_auth: s.client_auth.unwrap_or_default(),
            use_userinfo: s.use_userinfo.unwrap_or(true),
            graph: s
                .graph_groups
                .unwrap_or(false)
                .then(|| s.graph_url.unwrap_or_else(|| DEFAULT_GRAPH_URL.to_string())),
            required_claims: s.required_claims.unwrap_or_default(),
        })
    }
}

async fn find_connection(state: &AppState, id: &str) -> Result<Connection, SsoFailure> {
    let id = id.to_string();
    let c = state
        .store
        .read(move |db| Box::pin(async move { connections::find(db, &id).await }))
        .await
        .map_err(|e| match e {
            StoreError::NotFound { .. } => no_connection("no such connection"),
            other => SsoFailure::store(other),
        })?;
    if c.protocol == Protocol::Oidc {
        Ok(c)
    } else {
        Err(no_connection("not an OIDC connection"))
    }
}

fn no_connection(detail: &str) -> SsoFailure {
    SsoFailure::new(
        StatusCode::NOT_FOUND,
        "no_connection",
        "There is no such OIDC connection. Check the sign-in link.",
        detail,
    )
}

/// The provider could not be used: the person learns only that; the error log says why.
fn provider_failure(e: &ProviderError) -> SsoFailure {
    let code = match e {
        ProviderError::Unreachable(_) => "oidc_provider_unreachable",
        ProviderError::Invalid(_) => "oidc_provider_invalid",
    };
    SsoFailure::new(
        StatusCode::BAD_GATEWAY,
        code,
        "Your identity provider could not be reached to sign you in. Try again in a moment, or contact your company administrator.",
        e.to_string(),
    )
}

/// What the provider sent was refused.
fn refused(e: &OidcError) -> SsoFailure {
    let code = match e {
        OidcError::Token(_) => "oidc_token_error",
        OidcError::EmailNotVerified => "oidc_email_not_verified",
        OidcError::Userinfo(_) => "oidc_userinfo",
        _ => "oidc_invalid_token",
    };
    let message = match e {
        OidcError::EmailNotVerified => {
            "Your identity provider says your email address is not verified. Contact your company administrator."
        }
        _ => "The answer from your identity provider could not be accepted. Contact your company administrator.",
    };
    SsoFailure::new(StatusCode::BAD_REQUEST, code, message, e.to_string())
}

#[derive(Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
    login_hint: Option<String>,
    /// `1`: the provider must authenticate the person again (an app asked for it).
    force: Option<String>,
}

/// `GET /sso/oidc/{id}/login?return_to=[&login_hint=][&force=1]`: 302 to the
/// provider's authorization endpoint.
pub async fn login(State(state): State<AppState>, Path(id): Path<String>, Query(q): Query<LoginQuery>) -> Response {
    let request = format!("GET /sso/oidc/{id}/login");
    let c = match find_connection(&state, &id).await {
        Ok(c) => c,
        Err(f) => return f.respond(&state, None, &request).await,
    };
    match login_url(&state, &c, &q).await {
        Ok((url, binding)) => (
            StatusCode::FOUND,
            [
                (header::LOCATION, url),
                (header::CACHE_CONTROL, "no-store".into()),
                (header::SET_COOKIE, binding),
            ],
        )
            .into_response(),
        Err(f) => f.respond(&state, Some(&c.id), &request).await,
    }
}

async fn login_url(state: &AppState, c: &Connection, q: &LoginQuery) -> Result<(String, String), SsoFailure> {
    let cfg = OidcConfig::load(state, c)?;
    let return_to = safe_return_to(q.return_to.as_deref(), &state.config).map_err(|why| {
        SsoFailure::new(
            StatusCode::BAD_REQUEST,
            "invalid_return_to",
            "The sign-in link is not valid.",
            why,
        )
    })?;
    let provider = state.oidc.get(&cfg.issuer).await.map_err(|e| provider_failure(&e))?;
    let now = state.now();
    let pending = OidcRequest {
        id: format!("_{}", uuid::Uuid::new_v4().simple()),
        connection_id: c.id.clone(),
        return_to,
        browser_hash: String::new(),
        nonce: tokens::random_secret(),
        pkce_verifier: tokens::random_secret(),
        created_at: now,
        expires_at: now + REQUEST_TTL_MS,
    };
    let login_hint = q.login_hint.as_deref().filter(|h| !h.is_empty() && h.len() <= 320);
    let url = AuthorizationRequest {
        authorization_endpoint: &provider.metadata.authorization_endpoint,
        client_id: &cfg.client_id,
        redirect_uri: &redirect_uri(&state.config.public_url, &c.id),
        scopes: &cfg.scopes,
        state: &pending.id,
        nonce: &pending.nonce,
        pkce_verifier: &pending.pkce_verifier,
        login_hint,
        prompt_login: q.force.as_deref() == Some("1"),
    }
    .url()
    .map_err(|e| SsoFailure::not_configured(e.to_string()))?;
    // Login CSRF: only the browser holding this secret can complete the sign-in.
    let secret = tokens::random_secret();
    let cookie = request_cookie(
        &pending.id,
        &secret,
        REQUEST_TTL_MS / 1000,
        Return::Redirect,
        &state.config,
    );
    let pending = OidcRequest {
        browser_hash: tokens::hash_secret(&secret),
        ..pending
    };
    state
        .store
        .write(move |db| Box::pin(async move { oidc::remember_request(db, &pending).await }))
        .await
        .map_err(SsoFailure::store)?;
    Ok((url, cookie))
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /sso/oidc/{id}/callback`: the provider's answer to the authorization request.
pub async fn callback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let request = format!("GET /sso/oidc/{id}/callback");
    let c = match find_connection(&state, &id).await {
        Ok(c) => c,
        Err(f) => return f.respond(&state, None, &request).await,
    };
    match callback_flow(&state, &c, &headers, q).await {
        Ok(resp) => resp,
        Err(f) => f.respond(&state, Some(&c.id), &request).await,
    }
}

fn clip(s: &str) -> String {
    roster_core::truncate(s, 200)
}

async fn callback_flow(
    state: &AppState,
    c: &Connection,
    headers: &HeaderMap,
    q: CallbackQuery,
) -> Result<Response, SsoFailure> {
    let Some(request_id) = q.state.filter(|s| !s.is_empty() && s.len() <= 128) else {
        return Err(SsoFailure::new(
            StatusCode::BAD_REQUEST,
            "oidc_missing_state",
            "This sign-in link is incomplete. Start the sign-in again.",
            "the callback carried no state",
        ));
    };
    let pending = take_pending(state, c, headers, &request_id).await?;
    let cfg = OidcConfig::load(state, c)?;
    let provider = state.oidc.get(&cfg.issuer).await.map_err(|e| provider_failure(&e))?;
    // RFC 9207: the answer names its issuer, so that one provider's code cannot be
    // passed off as another's (mix-up).
    match q.iss.as_deref() {
        Some(iss) if iss != cfg.issuer => {
            return Err(refused(&OidcError::Token(format!(
                "the authorization response names the issuer '{}', not '{}'",
                clip(iss),
                cfg.issuer
            ))))
        }
        None if provider.metadata.authorization_response_iss_parameter_supported => {
            return Err(refused(&OidcError::Token(
                "the provider sends `iss` with its answers, and this one has none".into(),
            )))
        }
        _ => {}
    }
    if let Some(error) = q.error {
        let description = q
            .error_description
            .map(|d| format!(": {}", clip(&d)))
            .unwrap_or_default();
        return Err(SsoFailure::new(
            StatusCode::FORBIDDEN,
            "oidc_provider_error",
            "Your identity provider did not sign you in. Contact your company administrator.",
            format!("the provider answered error={}{description}", clip(&error)),
        ));
    }
    let Some(code) = q.code.filter(|c| !c.is_empty() && c.len() <= 4096) else {
        return Err(SsoFailure::new(
            StatusCode::BAD_REQUEST,
            "oidc_missing_code",
            "The answer from your identity provider is incomplete. Start the sign-in again.",
            "the callback carried neither a code nor an error",
        ));
    };
    let tokens = state
        .oidc
        .exchange(
            &provider,
            &Client {
                id: &cfg.client_id,
                secret: &cfg.client_secret,
                auth: cfg.client_auth,
            },
            &code,
            &redirect_uri(&state.config.public_url, &c.id),
            &pending.pkce_verifier,
        )
        .await
        .map_err(|e| match e {
            ProviderError::Invalid(e) => refused(&e),
            other => provider_failure(&other),
        })?;
    let now = state.now();
    let mut claims = verified_claims(state, &provider, &cfg, &pending, &tokens.id_token, now).await?;
    if cfg.use_userinfo {
        if let (Some(url), Some(access)) = (&provider.metadata.userinfo_endpoint, &tokens.access_token) {
            let body = state
                .oidc
                .userinfo(url, access)
                .await
                .map_err(|e| provider_failure(&e))?;
            claims::merge_userinfo(&mut claims, &body).map_err(|e| refused(&e))?;
        }
    }
    claims::check_email_verified(&claims).map_err(|e| refused(&e))?;
    for (name, wanted) in &cfg.required_claims {
        let found = claims
            .get(name)
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
        if found.as_deref() != Some(wanted.as_str()) {
            return Err(SsoFailure::new(
                StatusCode::FORBIDDEN,
                "oidc_claim_mismatch",
                "Your account at the identity provider is not one this sign-in accepts. Contact your company administrator.",
                format!(
                    "the connection requires {name}={wanted}; the provider sent {}",
                    found.map_or_else(|| "none".to_string(), |f| format!("{name}={}", clip(&f)))
                ),
            ));
        }
    }
    let overage = overage_groups(state, &cfg, tokens.access_token.as_deref(), &mut claims).await;

    let raw = RawAttributes::from_claims(&claims);
    let mut facts =
        read_facts(&raw, Protocol::Oidc, &c.attribute_names).map_err(|d| SsoFailure::denied(&d, describe(&claims)))?;
    if let Some(warning) = overage {
        facts.warnings.push(Warning::new("A2", warning));
    }
    let arrival = Arrival {
        idp_not_after: None,
        return_to: pending.return_to,
        // The binding cookie has served its one use.
        spent_binding: Some(cleared_request_cookie(&request_id, Return::Redirect, &state.config)),
        described: describe(&claims),
    };
    super::complete(state, c, facts, headers, arrival).await
}

/// Entra ID's group overage: the token left the groups out. With `graph_groups` the
/// groups are read from Microsoft Graph into `claims`; otherwise, or when Graph fails, the
/// sign-in goes on without them. Returns the warning the sign-in records, if any.
async fn overage_groups(
    state: &AppState,
    cfg: &OidcConfig,
    access_token: Option<&str>,
    claims: &mut Map<String, Value>,
) -> Option<String> {
    if !claims::groups_overage(claims) {
        return None;
    }
    let (Some(graph), Some(token)) = (&cfg.graph, access_token) else {
        return Some(
            "the identity provider left the groups out (too many for the token; turn on graph_groups to read them \
             from Microsoft Graph): signed in without group mapping"
                .into(),
        );
    };
    match state.oidc.graph_groups(graph, token).await {
        Ok((groups, cut)) => {
            claims.insert("groups".into(), Value::from(groups));
            cut.then(|| {
                format!(
                    "Microsoft Graph has more groups than are read for a sign-in ({} groups, 20 pages): only the first were read",
                    roster_oidc::claims::MAX_GRAPH_GROUPS
                )
            })
        }
        Err(e) => {
            tracing::warn!(error = %e, trace_id = %current_trace_id(), "group overage: Microsoft Graph failed");
            Some(format!(
                "the identity provider left the groups out, and reading them from Microsoft Graph failed ({e}): \
                 signed in without group mapping"
            ))
        }
    }
}

/// Uses up the pending sign-in `id` of `c`, if this browser started it.
async fn take_pending(
    state: &AppState,
    c: &Connection,
    headers: &HeaderMap,
    id: &str,
) -> Result<OidcRequest, SsoFailure> {
    let now = state.now();
    let binding = request_binding(headers, id, &state.config).map(|secret| tokens::hash_secret(&secret));
    let (cid, rid) = (c.id.clone(), id.to_string());
    let found = match binding {
        Some(browser_hash) => {
            state
                .store
                .write(move |db| {
                    Box::pin(async move {
                        match oidc::take_request(db, &rid, &cid, &browser_hash, now).await? {
                            Some(r) => Ok(Ok(r)),
                            None => Ok(Err(oidc::request_pending(db, &rid, &cid, now).await?)),
                        }
                    })
                })
                .await
        }
        // Without the cookie nothing can be used up: a read tells the two failures apart,
        // and anonymous callbacks cost no write.
        None => {
            state
                .store
                .read(move |db| Box::pin(async move { Ok(Err(oidc::request_pending(db, &rid, &cid, now).await?)) }))
                .await
        }
    }
    .map_err(SsoFailure::store)?;
    match found {
        Ok(r) => Ok(r),
        Err(true) => Err(SsoFailure::new(
            StatusCode::BAD_REQUEST,
            "oidc_other_browser",
            "This sign-in was started in another browser, or has expired. Start the sign-in again.",
            format!("state '{}' names a pending sign-in, but this browser does not hold its binding cookie", clip(id)),
        )),
        Err(false) => Err(SsoFailure::new(
            StatusCode::BAD_REQUEST,
            "oidc_unknown_state",
            "This sign-in has expired or was already used. Start the sign-in again.",
            format!(
                "state '{}' is not a pending sign-in of this connection (unknown, used, expired, or another connection's)",
                clip(id)
            ),
        )),
    }
}

/// The ID token's claims, verified; a token naming a key the provider's JWKS lacks makes
/// Roster fetch the JWKS again (rate-limited) and try once more, so that a provider's
/// key rotation needs no restart.
async fn verified_claims(
    state: &AppState,
    provider: &Provider,
    cfg: &OidcConfig,
    pending: &OidcRequest,
    id_token: &str,
    now_ms: i64,
) -> Result<Map<String, Value>, SsoFailure> {
    let expect = Expectations {
        issuer: &cfg.issuer,
        client_id: &cfg.client_id,
        nonce: &pending.nonce,
        now_secs: now_ms / 1000,
        skew_secs: SKEW_SECS,
    };
    match verify_id_token(id_token, &provider.jwks(), &expect) {
        Err(OidcError::UnknownKey(kid)) => {
            let fetched = state
                .oidc
                .refresh_keys(provider)
                .await
                .map_err(|e| provider_failure(&e))?;
            if !fetched {
                return Err(refused(&OidcError::UnknownKey(kid)));
            }
            verify_id_token(id_token, &provider.jwks(), &expect).map_err(|e| refused(&e))
        }
        other => other.map_err(|e| refused(&e)),
    }
}

/// The claims behind a decision, for the error log.
fn describe(claims: &Map<String, Value>) -> String {
    let mut out = String::new();
    for k in ["sub", "email", "upn", "preferred_username", "name", "groups"] {
        if let Some(v) = claims.get(k) {
            if !out.is_empty() {
                out.push_str(", ");
            }
            out.push_str(&format!("{k}={}", roster_core::truncate(&v.to_string(), 200)));
        }
    }
    out
}

/// The connection check of `c`: its settings, its provider's discovery document and its
/// keys, fetched now (not from what sign-ins keep), as `(step, ok, message)`.
pub async fn check(state: &AppState, c: &Connection) -> Vec<(String, bool, String)> {
    let mut out = Vec::new();
    let cfg = match OidcConfig::load(state, c) {
        Ok(cfg) => {
            out.push((
                "settings".into(),
                true,
                format!(
                    "issuer '{}', client id '{}', a client secret is set",
                    cfg.issuer, cfg.client_id
                ),
            ));
            cfg
        }
        Err(f) => {
            out.push(("settings".into(), false, f.detail));
            return out;
        }
    };
    match state.oidc.refresh(&cfg.issuer).await {
        Ok(p) => {
            let m = &p.metadata;
            out.push((
                "discovery".into(),
                true,
                format!(
                    "found the provider: authorization endpoint {}, token endpoint {}, userinfo {}",
                    m.authorization_endpoint,
                    m.token_endpoint,
                    m.userinfo_endpoint.as_deref().unwrap_or("none")
                ),
            ));
            out.push((
                "keys".into(),
                true,
                format!("{} signing key(s) usable in the provider's JWKS", p.jwks().len()),
            ));
        }
        Err(ProviderError::Invalid(OidcError::Jwks(why))) => {
            out.push((
                "discovery".into(),
                true,
                "found the provider's discovery document".into(),
            ));
            out.push(("keys".into(), false, format!("the provider's JWKS: {why}")));
        }
        Err(e) => out.push(("discovery".into(), false, e.to_string())),
    }
    out
}
