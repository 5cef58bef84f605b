//! A connection's protocol settings as the admin API takes and shows them.
//!
//! SAML: IdP metadata (pasted XML or a URL fetched with a timeout and a size cap) is
//! parsed once, here, into the entity id, SSO URL and signing certificates that are
//! stored; every certificate is parsed before it is accepted.

use crate::error::ApiError;
use crate::routes::ts;
use crate::secrets::Sealer;
use roster_core::signin::AttributeNames;
use roster_core::Protocol;
use roster_saml::keys::parse_certificates;
use roster_saml::metadata::parse_idp_metadata;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

/// IdP settings of a SAML connection: the IdP's metadata (XML or URL), or its entity id,
/// SSO URL and signing certificates (several allowed, for rotation), plus options.
#[derive(Deserialize, Serialize, ToSchema, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct SamlSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idp_entity_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idp_sso_url: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub idp_certificates: Vec<String>,
    /// Write-only: parsed into the fields above, not stored.
    #[serde(default, skip_serializing)]
    pub idp_metadata_xml: Option<String>,
    /// Fetched (5 s timeout, 1 MiB cap) and parsed into the fields above.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idp_metadata_url: Option<String>,
    /// Accept SHA-1 digests and RSA-SHA1 signatures (off by default).
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_sha1: bool,
    /// Accept AES-CBC encrypted assertions (off by default; AES-GCM always works).
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_cbc: bool,
    /// Tolerated clock difference with the IdP, 0..300 seconds (default 120).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_skew_seconds: Option<u32>,
    /// Sign AuthnRequests with the SP key (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_requests: Option<bool>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Deserialize, Serialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The provider's issuer, exactly as its discovery document names it (Entra ID:
    /// `https://login.microsoftonline.com/{tenant}/v2.0`).
    pub issuer: String,
    pub client_id: String,
    /// Write-only: never returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Scopes asked for (default `openid email profile`); must include `openid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<String>,
    /// How Roster authenticates at the token endpoint: `client_secret_basic` (default)
    /// or `client_secret_post`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub client_auth: Option<roster_oidc::provider::ClientAuth>,
    /// Whether userinfo completes the ID token's claims (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_userinfo: Option<bool>,
    /// Microsoft Entra ID: when the token leaves the groups out (overage), read them from
    /// Microsoft Graph with the access token (default false; the app needs the
    /// `GroupMember.Read.All` permission, asked for in `scopes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_groups: Option<bool>,
    /// Microsoft Graph's base URL (default `https://graph.microsoft.com/v1.0`; another
    /// for national clouds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_url: Option<String>,
    /// Claims every ID token (or userinfo) of this connection must carry with exactly
    /// these values, for providers whose issuer is shared by every account: Google's
    /// `{"hd": "acme.com"}` (the Workspace domain), or `{"tid": "<tenant id>"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_claims: Option<std::collections::BTreeMap<String, String>>,
}

/// Microsoft Graph, where a group overage is made up for.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";

/// The scopes asked for when a connection names none.
pub const DEFAULT_OIDC_SCOPES: &str = "openid email profile";

const MAX_CERTS: usize = 5;
const MAX_CERT_BYTES: usize = 16 * 1024;
const MAX_METADATA_BYTES: usize = 1024 * 1024;
const METADATA_TIMEOUT_SECS: u64 = 5;

fn check_url(what: &str, raw: &str) -> Result<(), ApiError> {
    let bad = || ApiError::bad_request("invalid_url", format!("{what} must be an http(s) URL"));
    let u = url::Url::parse(raw.trim()).map_err(|_| bad())?;
    if !matches!(u.scheme(), "https" | "http") || u.host_str().is_none() {
        return Err(bad());
    }
    Ok(())
}

/// Fetches IdP metadata from `url` with a timeout and a size cap.
/// The metadata names the keys every sign-in is checked with, and it is not signed
/// itself: it is fetched over https only (plain http only from this machine).
fn fetch_allowed(u: &url::Url) -> bool {
    match u.scheme() {
        "https" => true,
        "http" => match u.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

pub async fn fetch_metadata(url: &str) -> Result<String, ApiError> {
    check_url("idp_metadata_url", url)?;
    let parsed = url::Url::parse(url.trim())
        .map_err(|_| ApiError::bad_request("invalid_url", "idp_metadata_url is not a URL"))?;
    if !fetch_allowed(&parsed) {
        return Err(ApiError::bad_request(
            "invalid_url",
            "idp_metadata_url must be an https URL: the metadata names the keys sign-ins are trusted with",
        ));
    }
    let bad = |why: String| ApiError::bad_request("invalid_metadata", format!("idp_metadata_url: {why}"));
    let redirects = reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= 3 {
            attempt.error("more than 3 redirects")
        } else if !fetch_allowed(attempt.url()) {
            attempt.error("a redirect away from https")
        } else {
            attempt.follow()
        }
    });
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(METADATA_TIMEOUT_SECS))
        .redirect(redirects)
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let mut resp = client
        .get(url.trim())
        .send()
        .await
        .map_err(|e| bad(format!("cannot fetch it: {e}")))?;
    if !resp.status().is_success() {
        return Err(bad(format!("the server answered {}", resp.status())));
    }
    if resp.content_length().is_some_and(|n| n > MAX_METADATA_BYTES as u64) {
        return Err(bad("it is larger than 1 MiB".into()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| bad(format!("cannot read it: {e}")))? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_METADATA_BYTES {
            return Err(bad("it is larger than 1 MiB".into()));
        }
    }
    String::from_utf8(body).map_err(|_| bad("it is not UTF-8 XML".into()))
}

impl SamlSettings {
    /// Validates, and replaces metadata XML by what it says. A metadata URL must have
    /// been fetched into `idp_metadata_xml` by the caller.
    pub fn normalize(mut self) -> Result<Self, ApiError> {
        if let Some(xml) = self.idp_metadata_xml.take() {
            if xml.len() > MAX_METADATA_BYTES {
                return Err(ApiError::bad_request(
                    "invalid_metadata",
                    "the IdP metadata is larger than 1 MiB",
                ));
            }
            let m = parse_idp_metadata(&xml).map_err(|e| ApiError::bad_request("invalid_metadata", e.to_string()))?;
            self.idp_entity_id.get_or_insert(m.entity_id);
            self.idp_sso_url.get_or_insert(m.sso_url);
            if self.idp_certificates.is_empty() {
                self.idp_certificates = m.certificates;
            }
        }
        if let Some(url) = &self.idp_sso_url {
            check_url("idp_sso_url", url)?;
        }
        if self
            .idp_entity_id
            .as_deref()
            .is_some_and(|e| e.trim().is_empty() || e.len() > 1024)
        {
            return Err(ApiError::bad_request(
                "invalid_entity_id",
                "idp_entity_id must be 1..1024 characters",
            ));
        }
        if self.idp_certificates.len() > MAX_CERTS {
            return Err(ApiError::bad_request(
                "invalid_certificate",
                format!("at most {MAX_CERTS} IdP certificates"),
            ));
        }
        for pem in &self.idp_certificates {
            if pem.len() > MAX_CERT_BYTES {
                return Err(ApiError::bad_request(
                    "invalid_certificate",
                    "a certificate is larger than 16 KiB",
                ));
            }
            parse_certificates(pem)
                .map_err(|e| ApiError::bad_request("invalid_certificate", format!("idp_certificates: {e}")))?;
        }
        if self.clock_skew_seconds.is_some_and(|s| s > 300) {
            return Err(ApiError::bad_request(
                "invalid_clock_skew",
                "clock_skew_seconds must be 0..300",
            ));
        }
        Ok(self)
    }

    /// Each IdP certificate's subject and expiry, and a warning for any that has expired
    /// or expires within 30 days.
    pub fn certificate_report(&self, now_ms: i64) -> (Vec<CertificateInfo>, Vec<String>) {
        let mut infos = Vec::new();
        let mut warnings = Vec::new();
        for pem in &self.idp_certificates {
            for k in parse_certificates(pem).unwrap_or_default() {
                let days = (k.not_after_ms - now_ms).div_euclid(86_400_000);
                if k.not_after_ms <= now_ms {
                    warnings.push(format!(
                        "The IdP certificate '{}' expired on {}.",
                        k.subject,
                        ts(k.not_after_ms)
                    ));
                } else if days < 30 {
                    warnings.push(format!(
                        "The IdP certificate '{}' expires on {} (in {days} days): add the IdP's new certificate.",
                        k.subject,
                        ts(k.not_after_ms)
                    ));
                }
                infos.push(CertificateInfo {
                    subject: k.subject.clone(),
                    not_after: ts(k.not_after_ms),
                });
            }
        }
        (infos, warnings)
    }
}

#[derive(Serialize, ToSchema, Clone)]
pub struct CertificateInfo {
    pub subject: String,
    pub not_after: String,
}

impl OidcSettings {
    pub fn validate(&self) -> Result<(), ApiError> {
        roster_oidc::provider::check_issuer(self.issuer.trim())
            .map_err(|e| ApiError::bad_request("invalid_issuer", e.to_string()))?;
        if let Some(required) = &self.required_claims {
            let ok = required.len() <= 10
                && required
                    .iter()
                    .all(|(k, v)| (1..=64).contains(&k.len()) && (1..=256).contains(&v.len()));
            if !ok {
                return Err(ApiError::bad_request(
                    "invalid_required_claims",
                    "required_claims: at most 10, names of 1–64 characters, values of 1–256",
                ));
            }
        }
        if let Some(graph) = &self.graph_url {
            roster_oidc::provider::provider_url("graph_url", graph)
                .map_err(|why| ApiError::bad_request("invalid_url", why))?;
        }
        if let Some(scopes) = &self.scopes {
            let ok = scopes.len() <= 512
                && scopes.split(' ').any(|s| s == "openid")
                && scopes.chars().all(|c| c.is_ascii_graphic() || c == ' ')
                && !scopes.contains(['"', '\\']);
            if !ok {
                return Err(ApiError::bad_request(
                    "invalid_scopes",
                    "scopes must be space-separated, at most 512 characters, and include `openid`",
                ));
            }
        }
        if self.client_id.trim().is_empty() || self.client_id.len() > 512 {
            return Err(ApiError::bad_request(
                "invalid_client_id",
                "client_id must be 1..512 characters",
            ));
        }
        Ok(())
    }

    /// Checks the client secret an admin sent and seals it for storage: it is kept only
    /// sealed under the server's secret key (the store never holds it in the clear).
    pub fn seal_secret(&mut self, sealer: &Sealer) -> Result<(), ApiError> {
        let Some(plain) = self.client_secret.take() else {
            return Ok(());
        };
        if plain.is_empty() || plain.len() > 1024 {
            return Err(ApiError::bad_request(
                "invalid_client_secret",
                "client_secret must be 1..1024 characters",
            ));
        }
        let sealed = sealer
            .seal(&plain)
            .map_err(|e| ApiError::from(crate::error::Failure::internal(&e)))?;
        self.client_secret = Some(sealed);
        Ok(())
    }
}

/// Fetches the metadata URL of `saml`, if it has one and no pasted XML.
pub async fn resolve_metadata(saml: Option<SamlSettings>) -> Result<Option<SamlSettings>, ApiError> {
    match saml {
        Some(mut s) if s.idp_metadata_xml.is_none() && s.idp_metadata_url.is_some() => {
            let url = s.idp_metadata_url.clone().unwrap_or_default();
            s.idp_metadata_xml = Some(fetch_metadata(&url).await?);
            Ok(Some(s))
        }
        other => Ok(other),
    }
}

pub fn settings_json(
    protocol: Protocol,
    saml: Option<SamlSettings>,
    oidc: Option<OidcSettings>,
) -> Result<Value, ApiError> {
    match (protocol, saml, oidc) {
        (Protocol::Saml, _, Some(_)) => Err(ApiError::bad_request(
            "invalid_settings",
            "a SAML connection takes `saml` settings, not `oidc`",
        )),
        (Protocol::Oidc, Some(_), _) => Err(ApiError::bad_request(
            "invalid_settings",
            "an OIDC connection takes `oidc` settings, not `saml`",
        )),
        (Protocol::Saml, saml, None) => {
            let saml = saml.unwrap_or_default().normalize()?;
            Ok(json!({ "saml": saml }))
        }
        (Protocol::Oidc, None, oidc) => {
            if let Some(o) = &oidc {
                o.validate()?;
            }
            Ok(json!({ "oidc": oidc }))
        }
    }
}

/// Adds A3's attribute names to protocol settings.
pub fn with_attribute_names(mut settings: Value, names: Option<AttributeNames>) -> Result<Value, ApiError> {
    if let (Some(names), Some(obj)) = (names, settings.as_object_mut()) {
        names.validate()?;
        obj.insert(
            "attribute_names".into(),
            serde_json::to_value(names).unwrap_or_default(),
        );
    }
    Ok(settings)
}
