//! SAML per connection: SP metadata, the login redirect and the ACS.
//!
//! The ACS verifies the response (`roster-saml`), then in one transaction uses up the
//! request it answers (or refuses an IdP-initiated one unless the connection allows it)
//! and records the assertion ID against replay, then in a second transaction plans and
//! applies the sign-in and starts the session (J10: a denied sign-in changes nothing).

use super::{
    cleared_request_cookie, request_binding, request_cookie, safe_return_to, saml_urls, Arrival, Return, SsoFailure,
};
use crate::routes::admin::connection_settings::SamlSettings;
use crate::state::AppState;
use crate::trace::current_trace_id;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use roster_core::signin::{read_facts, RawAttributes};
use roster_core::Protocol;
use roster_saml::authn::AuthnRequest;
use roster_saml::keys::{generate_sp_key, parse_certificates, pem_body, SpKeyMaterial, TrustedKey};
use roster_saml::metadata::{parse_idp_metadata, SpMetadata};
use roster_saml::{
    decode_post, verify_response, AlgorithmPolicy, Expectations, Limits, SamlError, SpKey, VerifiedAssertion,
};
use roster_store::connections::{self, Connection};
use roster_store::{saml, tokens, Ctx, StoreError};
use serde::Deserialize;
use std::sync::{Arc, OnceLock};
use tokio::sync::Semaphore;

/// How long an AuthnRequest may be answered.
const REQUEST_TTL_MS: i64 = 10 * 60 * 1000;
/// SP certificates are made for this long; rotate before they end.
const SP_CERT_DAYS: i64 = 5 * 365;
const DEFAULT_SKEW_SECS: i64 = 120;
const MAX_SKEW_SECS: i64 = 300;

/// A connection's SAML settings, parsed for use.
pub struct SamlConfig {
    pub idp_entity_id: String,
    pub idp_sso_url: String,
    pub idp_keys: Vec<TrustedKey>,
    pub allow_sha1: bool,
    pub allow_cbc: bool,
    pub clock_skew_ms: i64,
    pub sign_requests: bool,
}

impl SamlConfig {
    pub fn load(c: &Connection) -> Result<Self, SsoFailure> {
        if c.protocol != Protocol::Saml {
            return Err(SsoFailure::not_configured("not a SAML connection"));
        }
        let s: SamlSettings = match c.settings.get("saml") {
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| SsoFailure::not_configured(format!("the stored SAML settings do not read: {e}")))?,
            None => SamlSettings::default(),
        };
        let present = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
        let mut entity = present(s.idp_entity_id);
        let mut sso = present(s.idp_sso_url);
        let mut certs = s.idp_certificates;
        if let Some(xml) = present(s.idp_metadata_xml) {
            let m = parse_idp_metadata(&xml).map_err(|e| SsoFailure::not_configured(e.to_string()))?;
            entity.get_or_insert(m.entity_id);
            sso.get_or_insert(m.sso_url);
            if certs.is_empty() {
                certs = m.certificates;
            }
        }
        let (Some(idp_entity_id), Some(idp_sso_url)) = (entity, sso) else {
            return Err(SsoFailure::not_configured("the IdP entity id or SSO URL is missing"));
        };
        // Each entry may be one certificate or a PEM bundle of several.
        let mut idp_keys: Vec<TrustedKey> = Vec::new();
        for c in &certs {
            idp_keys.extend(parse_certificates(c).map_err(|e| SsoFailure::not_configured(e.to_string()))?);
        }
        if idp_keys.is_empty() {
            return Err(SsoFailure::not_configured("no IdP signing certificate"));
        }
        let skew = s
            .clock_skew_seconds
            .map_or(DEFAULT_SKEW_SECS, i64::from)
            .clamp(0, MAX_SKEW_SECS);
        Ok(Self {
            idp_entity_id,
            idp_sso_url,
            idp_keys,
            allow_sha1: s.allow_sha1,
            allow_cbc: s.allow_cbc,
            clock_skew_ms: skew * 1000,
            sign_requests: s.sign_requests.unwrap_or(true),
        })
    }
}

async fn find_connection(state: &AppState, id: &str) -> Result<Connection, SsoFailure> {
    let id = id.to_string();
    state
        .store
        .read(move |db| Box::pin(async move { connections::find(db, &id).await }))
        .await
        .map_err(|e| match e {
            StoreError::NotFound { .. } => SsoFailure::new(
                StatusCode::NOT_FOUND,
                "no_connection",
                "There is no such SSO connection. Check the sign-in link.",
                "no such connection",
            ),
            other => SsoFailure::store(other),
        })
        .and_then(|c| {
            if c.protocol == Protocol::Saml {
                Ok(c)
            } else {
                Err(SsoFailure::new(
                    StatusCode::NOT_FOUND,
                    "no_connection",
                    "There is no such SAML connection. Check the sign-in link.",
                    "not a SAML connection",
                ))
            }
        })
}

/// The connection's live SP keys, newest first; the first is made on first use.
/// A new SP key pair for the connection, made on the blocking pool (RSA key generation
/// takes tens of milliseconds).
pub(crate) async fn new_sp_key(state: &AppState, connection_id: &str, now: i64) -> Result<SpKeyMaterial, String> {
    let (entity, _) = saml_urls(&state.config.public_url, connection_id);
    tokio::task::spawn_blocking(move || generate_sp_key(&entity, now, SP_CERT_DAYS))
        .await
        .map_err(|_| "could not make a key".to_string())?
        .map_err(|e| e.to_string())
}

pub async fn sp_keys(state: &AppState, connection: &Connection) -> Result<Vec<saml::SpKey>, SsoFailure> {
    let now = state.now();
    let cid = connection.id.clone();
    let keys = state
        .store
        .read(move |db| Box::pin(async move { saml::live_keys(db, &cid, now).await }))
        .await
        .map_err(SsoFailure::store)?;
    if !keys.is_empty() {
        return Ok(keys);
    }
    let material = new_sp_key(state, &connection.id, now).await.map_err(|e| {
        SsoFailure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "sp_key",
            "Sign-in is unavailable right now.",
            e,
        )
    })?;
    let ctx = Ctx::new("system", None, current_trace_id(), now);
    let cid = connection.id.clone();
    // The private key is stored sealed (secrets at rest).
    let sealed_key = state
        .sealer
        .seal(&material.private_key_pem)
        .map_err(SsoFailure::internal)?;
    state
        .store
        .write(move |db| {
            Box::pin(async move {
                // Another request may have made one meanwhile: keep that.
                let existing = saml::live_keys(db, &cid, now).await?;
                if !existing.is_empty() {
                    return Ok(existing);
                }
                let k = saml::add_key(
                    db,
                    &ctx,
                    &cid,
                    &sealed_key,
                    &material.certificate_pem,
                    material.not_after_ms,
                    None,
                )
                .await?;
                Ok(vec![k])
            })
        })
        .await
        .map_err(SsoFailure::store)
}

/// The SP key `k`, parsed once and then kept (by the key's id, so a rotation's new key is
/// parsed on its first use): a login then costs no private-key parsing.
fn parsed_sp_key(state: &AppState, k: &saml::SpKey) -> Result<Arc<SpKey>, SamlError> {
    if let Some(parsed) = state.sp_keys.get(&k.id) {
        return Ok(parsed);
    }
    let pem = state
        .sealer
        .open(&k.private_key_pem)
        .map_err(|e| SamlError::Key(e.to_string()))?;
    let parsed = Arc::new(SpKey::from_pem(&pem)?);
    state.sp_keys.insert(k.id.clone(), parsed.clone());
    Ok(parsed)
}

/// `GET /sso/saml/{id}/metadata`: the SP metadata to give the IdP.
pub async fn metadata(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let result = async {
        let c = find_connection(&state, &id).await?;
        let keys = sp_keys(&state, &c).await?;
        let sign = SamlConfig::load(&c).map(|s| s.sign_requests).unwrap_or(true);
        let (entity, acs) = saml_urls(&state.config.public_url, &c.id);
        let certs: Vec<String> = keys.iter().map(|k| pem_body(&k.certificate_pem)).collect();
        Ok::<_, SsoFailure>(
            SpMetadata {
                entity_id: &entity,
                acs_url: &acs,
                certificates: &certs,
                authn_requests_signed: sign,
            }
            .to_xml(),
        )
    }
    .await;
    match result {
        Ok(xml) => ([(header::CONTENT_TYPE, "application/samlmetadata+xml")], xml).into_response(),
        Err(f) => f.respond(&state, None, "GET metadata").await,
    }
}

#[derive(Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
    /// `1`: the IdP must authenticate the person again (`ForceAuthn`; an app asked).
    force: Option<String>,
}

/// `GET /sso/saml/{id}/login?return_to=[&force=1]`: 302 to the IdP with an AuthnRequest.
pub async fn login(State(state): State<AppState>, Path(id): Path<String>, Query(q): Query<LoginQuery>) -> Response {
    let request = format!("GET /sso/saml/{id}/login");
    let c = match find_connection(&state, &id).await {
        Ok(c) => c,
        Err(f) => return f.respond(&state, None, &request).await,
    };
    match login_url(&state, &c, q.return_to.as_deref(), q.force.as_deref() == Some("1")).await {
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

/// The IdP's URL with the AuthnRequest, and the `Set-Cookie` binding the request to
/// this browser.
async fn login_url(
    state: &AppState,
    c: &Connection,
    return_to: Option<&str>,
    force_authn: bool,
) -> Result<(String, String), SsoFailure> {
    let cfg = SamlConfig::load(c)?;
    let return_to = safe_return_to(return_to, &state.config).map_err(|why| {
        SsoFailure::new(
            StatusCode::BAD_REQUEST,
            "invalid_return_to",
            "The sign-in link is not valid.",
            why,
        )
    })?;
    let keys = sp_keys(state, c).await?;
    let signer = match (cfg.sign_requests, keys.first()) {
        (true, Some(k)) => Some(parsed_sp_key(state, k).map_err(|e| SsoFailure::not_configured(e.to_string()))?),
        _ => None,
    };
    let request_id = format!("_{}", uuid::Uuid::new_v4().simple());
    let now = state.now();
    let (entity, acs) = saml_urls(&state.config.public_url, &c.id);
    // The RSA signature is a few milliseconds of CPU: on the blocking pool, not on a
    // thread serving requests.
    let id = request_id.clone();
    let idp_sso_url = cfg.idp_sso_url;
    let url = tokio::task::spawn_blocking(move || {
        AuthnRequest {
            id: &id,
            issue_instant_ms: now,
            sp_entity_id: &entity,
            acs_url: &acs,
            idp_sso_url: &idp_sso_url,
            force_authn,
        }
        .redirect_url(&id, signer.as_deref())
    })
    .await
    .map_err(SsoFailure::internal)?
    .map_err(|e| SsoFailure::not_configured(e.to_string()))?;
    // Login CSRF: only the browser holding this secret can complete the sign-in.
    let secret = tokens::random_secret();
    let cookie = request_cookie(
        &request_id,
        &secret,
        REQUEST_TTL_MS / 1000,
        Return::CrossSitePost,
        &state.config,
    );
    let browser_hash = tokens::hash_secret(&secret);
    let cid = c.id.clone();
    state
        .store
        .write(move |db| {
            Box::pin(async move {
                let expires = now + REQUEST_TTL_MS;
                saml::remember_request(db, &request_id, &cid, &return_to, &browser_hash, now, expires).await
            })
        })
        .await
        .map_err(SsoFailure::store)?;
    Ok((url, cookie))
}

/// Runs `verify` (parsing, canonicalization, RSA) on the blocking pool, never on an
/// async worker, and at most one per core at a time: a costly response then delays
/// other sign-ins a little instead of stalling every request of the server.
async fn verify_off_the_runtime(
    verify: impl FnOnce() -> Result<VerifiedAssertion, SamlError> + Send + 'static,
) -> Result<VerifiedAssertion, SsoFailure> {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    let slots = SLOTS.get_or_init(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())));
    let _slot = slots.acquire().await.map_err(SsoFailure::internal)?;
    tokio::task::spawn_blocking(verify)
        .await
        .map_err(SsoFailure::internal)?
        .map_err(|e| SsoFailure::saml(&e))
}

/// What the first ACS transaction decided.
enum Gate {
    Go(String),
    UnknownRequest,
    /// The request is pending, but this browser did not start it (login CSRF).
    OtherBrowser,
    Replay,
    IdpInitiatedOff,
}

/// `POST /sso/saml/{id}/acs`: form `SAMLResponse`, `RelayState`.
pub async fn acs(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let request = format!("POST /sso/saml/{id}/acs");
    let c = match find_connection(&state, &id).await {
        Ok(c) => c,
        Err(f) => return f.respond(&state, None, &request).await,
    };
    match acs_flow(&state, &c, &headers, &body).await {
        Ok(resp) => resp,
        Err(f) => f.respond(&state, Some(&c.id), &request).await,
    }
}

async fn acs_flow(state: &AppState, c: &Connection, headers: &HeaderMap, body: &[u8]) -> Result<Response, SsoFailure> {
    let mut saml_response = None;
    let mut relay_state = None;
    for (k, v) in url::form_urlencoded::parse(body) {
        match k.as_ref() {
            "SAMLResponse" if saml_response.is_none() => saml_response = Some(v.into_owned()),
            "RelayState" if relay_state.is_none() => relay_state = Some(v.into_owned()),
            _ => {}
        }
    }
    let Some(field) = saml_response else {
        return Err(SsoFailure::new(
            StatusCode::BAD_REQUEST,
            "saml_missing",
            "The sign-in request carried no response from your identity provider.",
            "no SAMLResponse form field",
        ));
    };
    let cfg = SamlConfig::load(c)?;
    let now = state.now();
    let cid = c.id.clone();
    let stored = state
        .store
        .read(move |db| Box::pin(async move { saml::live_keys(db, &cid, now).await }))
        .await
        .map_err(SsoFailure::store)?;
    let (entity, acs_url) = saml_urls(&state.config.public_url, &c.id);
    let sealer = state.sealer.clone();
    let v = verify_off_the_runtime(move || {
        let sp_keys: Vec<SpKey> = stored
            .iter()
            .filter_map(|k| sealer.open(&k.private_key_pem).ok())
            .filter_map(|pem| SpKey::from_pem(&pem).ok())
            .collect();
        let limits = Limits::default();
        let xml = decode_post(&field, limits)?;
        let exp = Expectations {
            sp_entity_id: &entity,
            acs_url: &acs_url,
            idp_entity_id: &cfg.idp_entity_id,
            idp_keys: &cfg.idp_keys,
            policy: AlgorithmPolicy {
                allow_sha1: cfg.allow_sha1,
            },
            allow_cbc: cfg.allow_cbc,
            sp_keys: &sp_keys,
            clock_skew_ms: cfg.clock_skew_ms,
            now_ms: now,
            limits,
        };
        verify_response(&xml, &exp)
    })
    .await?;

    let return_to = gate(state, c, &v, headers, relay_state.as_deref()).await?;
    let raw = RawAttributes {
        values: v.attributes.clone(),
        name_id: v.name_id.clone(),
    };
    let facts =
        read_facts(&raw, Protocol::Saml, &c.attribute_names).map_err(|d| SsoFailure::denied(&d, describe(&v)))?;
    // The request's binding cookie has served its one use.
    let binding = v
        .in_response_to
        .as_deref()
        .map(|irt| cleared_request_cookie(irt, Return::CrossSitePost, &state.config));
    let arrival = Arrival {
        idp_not_after: v.session_not_on_or_after_ms,
        return_to,
        spent_binding: binding,
        described: describe(&v),
    };
    super::complete(state, c, facts, headers, arrival).await
}

/// Uses up the request the response answers (or checks that IdP-initiated sign-in is
/// allowed), and records the assertion against replay. Returns where to go after.
async fn gate(
    state: &AppState,
    c: &Connection,
    v: &VerifiedAssertion,
    headers: &HeaderMap,
    relay: Option<&str>,
) -> Result<String, SsoFailure> {
    let now = state.now();
    let cid = c.id.clone();
    let irt = v.in_response_to.clone();
    let assertion_id = v.assertion_id.clone();
    let keep_until = v.replay_until_ms;
    let allow_idp = c.idp_initiated;
    let idp_return = safe_return_to(relay, &state.config).unwrap_or_else(|_| "/me".to_string());
    // The binding secret this browser holds for the request answered, if any; a missing
    // one hashes to no stored request.
    let browser_hash = irt
        .as_deref()
        .and_then(|id| request_binding(headers, id, &state.config))
        .map(|secret| tokens::hash_secret(&secret))
        .unwrap_or_default();
    let decided = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let return_to = match irt {
                    Some(id) => match saml::take_request(db, &id, &cid, &browser_hash, now).await? {
                        Some(r) => r,
                        None if saml::request_pending(db, &id, &cid, now).await? => return Ok(Gate::OtherBrowser),
                        None => return Ok(Gate::UnknownRequest),
                    },
                    None if !allow_idp => return Ok(Gate::IdpInitiatedOff),
                    None => idp_return,
                };
                if !saml::first_use(db, &cid, &assertion_id, keep_until, now).await? {
                    return Ok(Gate::Replay);
                }
                Ok(Gate::Go(return_to))
            })
        })
        .await
        .map_err(SsoFailure::store)?;
    match decided {
        Gate::Go(r) => Ok(r),
        Gate::UnknownRequest => Err(SsoFailure::new(
            StatusCode::BAD_REQUEST,
            "saml_unknown_request",
            "This sign-in has expired or was already used. Start the sign-in again.",
            format!(
                "InResponseTo '{}' is not a pending request of this connection (unknown, used, expired, or another connection's)",
                v.in_response_to.as_deref().unwrap_or_default()
            ),
        )),
        Gate::OtherBrowser => Err(SsoFailure::new(
            StatusCode::BAD_REQUEST,
            "saml_other_browser",
            "This sign-in was started in another browser, or has expired. Start the sign-in again.",
            format!(
                "InResponseTo '{}' names a pending request, but this browser does not hold its binding cookie",
                v.in_response_to.as_deref().unwrap_or_default()
            ),
        )),
        Gate::Replay => Err(SsoFailure::new(
            StatusCode::BAD_REQUEST,
            "saml_replay",
            "This sign-in has expired or was already used. Start the sign-in again.",
            format!("assertion '{}' was already used", v.assertion_id),
        )),
        Gate::IdpInitiatedOff => Err(SsoFailure::new(
            StatusCode::FORBIDDEN,
            "idp_initiated_disabled",
            format!("IdP-Initiated sign in is not enabled for connection '{}'.", c.name),
            "a response without InResponseTo (IdP-initiated) on a connection that does not allow it",
        )),
    }
}

/// The values behind a decision, for the error log.
fn describe(v: &VerifiedAssertion) -> String {
    let mut out = format!("NameID={:?}", v.name_id.as_deref().unwrap_or(""));
    for (k, vals) in &v.attributes {
        out.push_str(&format!(", {k}={vals:?}"));
    }
    out
}
