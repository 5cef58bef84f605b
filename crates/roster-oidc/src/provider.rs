//! The provider's side as the relying party sees it: the issuer, the discovery document,
//! the authorization request and the token request and response.

use crate::{b64url, OidcError};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The largest discovery document, JWKS, token response or userinfo answer read.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// Whether `host` is this machine: 127.0.0.0/8, `::1` or `localhost`.
fn loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// A URL of the provider: `https`, or `http` on this machine only (a provider run
/// beside Roster, as in tests). No credentials, no fragment.
pub fn provider_url(what: &str, raw: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(raw.trim()).map_err(|_| format!("{what} '{raw}' is not a URL"))?;
    let Some(host) = u.host() else {
        return Err(format!("{what} '{raw}' has no host"));
    };
    match u.scheme() {
        "https" => {}
        "http" if loopback(&host) => {}
        _ => return Err(format!("{what} '{raw}' must use https")),
    }
    if !u.username().is_empty() || u.password().is_some() || u.fragment().is_some() {
        return Err(format!("{what} '{raw}' must not carry credentials or a fragment"));
    }
    Ok(u)
}

/// Checks the issuer an administrator configured: a provider URL without query, and
/// for Microsoft Entra ID the tenant's own issuer, not a multi-tenant alias.
pub fn check_issuer(issuer: &str) -> Result<(), OidcError> {
    let u = provider_url("the issuer", issuer).map_err(OidcError::Issuer)?;
    if u.query().is_some() {
        return Err(OidcError::Issuer(format!(
            "the issuer '{issuer}' must not have a query"
        )));
    }
    let entra = matches!(
        u.host_str(),
        Some("login.microsoftonline.com" | "login.microsoftonline.us" | "login.partner.microsoftonline.cn")
    );
    if entra {
        let tenant = u.path_segments().and_then(|mut s| s.next()).unwrap_or_default();
        if matches!(
            tenant.to_ascii_lowercase().as_str(),
            "common" | "organizations" | "consumers" | ""
        ) {
            return Err(OidcError::Issuer(format!(
                "'{issuer}' is Microsoft's multi-tenant endpoint, which any Microsoft account can sign in to: \
                 paste your tenant's own issuer, https://{}/<tenant id>/v2.0 (Entra admin center → Overview → Tenant ID)",
                u.host_str().unwrap_or("login.microsoftonline.com")
            )));
        }
    }
    Ok(())
}

/// Where the discovery document of `issuer` is (OpenID Connect Discovery §4).
pub fn discovery_url(issuer: &str) -> String {
    format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'))
}

/// The discovery document's fields Roster uses.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: String,
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

impl ProviderMetadata {
    /// Reads a discovery document fetched for `issuer`: its `issuer` must be the
    /// configured one exactly (Discovery §4.3), its endpoints provider URLs.
    pub fn parse(body: &[u8], issuer: &str) -> Result<Self, OidcError> {
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err(OidcError::Discovery(format!(
                "larger than {} KiB",
                MAX_DOCUMENT_BYTES / 1024
            )));
        }
        let m: Self =
            serde_json::from_slice(body).map_err(|e| OidcError::Discovery(format!("not a discovery document: {e}")))?;
        if m.issuer != issuer {
            return Err(OidcError::Discovery(format!(
                "it names the issuer '{}', not the configured '{issuer}': configure exactly the provider's issuer",
                m.issuer
            )));
        }
        let on_this_machine = |u: &url::Url| u.host().is_some_and(|h| loopback(&h));
        let issuer_here = provider_url("the issuer", issuer).is_ok_and(|u| on_this_machine(&u));
        for (what, url) in [
            ("authorization_endpoint", Some(&m.authorization_endpoint)),
            ("token_endpoint", Some(&m.token_endpoint)),
            ("jwks_uri", Some(&m.jwks_uri)),
            ("userinfo_endpoint", m.userinfo_endpoint.as_ref()),
        ] {
            if let Some(url) = url {
                let u = provider_url(what, url).map_err(OidcError::Discovery)?;
                // A provider elsewhere does not send Roster to this machine's services.
                if on_this_machine(&u) && !issuer_here {
                    return Err(OidcError::Discovery(format!(
                        "{what} '{url}' is on Roster's own machine, and the issuer is not"
                    )));
                }
            }
        }
        if let Some(methods) = &m.code_challenge_methods_supported {
            if !methods.iter().any(|x| x == "S256") {
                return Err(OidcError::Discovery(
                    "the provider does not support PKCE with S256 (code_challenge_methods_supported)".into(),
                ));
            }
        }
        Ok(m)
    }
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
}

/// The PKCE S256 challenge of `verifier` (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    b64url(&Sha256::digest(verifier.as_bytes()))
}

/// The authorization request of one sign-in (authorization code flow, PKCE S256).
pub struct AuthorizationRequest<'a> {
    pub authorization_endpoint: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scopes: &'a str,
    pub state: &'a str,
    pub nonce: &'a str,
    pub pkce_verifier: &'a str,
    pub login_hint: Option<&'a str>,
    /// Asks the provider to authenticate the person again (`prompt=login`): an app
    /// asked for a fresh sign-in.
    pub prompt_login: bool,
}

impl AuthorizationRequest<'_> {
    /// The URL to send the browser to.
    pub fn url(&self) -> Result<String, OidcError> {
        let mut u =
            provider_url("authorization_endpoint", self.authorization_endpoint).map_err(OidcError::Discovery)?;
        {
            let mut q = u.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", self.client_id)
                .append_pair("redirect_uri", self.redirect_uri)
                .append_pair("scope", self.scopes)
                .append_pair("state", self.state)
                .append_pair("nonce", self.nonce)
                .append_pair("code_challenge", &pkce_challenge(self.pkce_verifier))
                .append_pair("code_challenge_method", "S256");
            if let Some(hint) = self.login_hint {
                q.append_pair("login_hint", hint);
            }
            if self.prompt_login {
                q.append_pair("prompt", "login");
            }
        }
        Ok(u.into())
    }
}

/// The token request exchanging `code`: the form fields and, for `client_secret_basic`,
/// the `Authorization` header value. The secret goes to the token endpoint only.
pub fn token_request(
    auth: ClientAuth,
    client_id: &str,
    client_secret: &str,
    code: &str,
    redirect_uri: &str,
    pkce_verifier: &str,
) -> (Vec<(&'static str, String)>, Option<String>) {
    let mut form = vec![
        ("grant_type", "authorization_code".to_string()),
        ("code", code.to_string()),
        ("redirect_uri", redirect_uri.to_string()),
        ("code_verifier", pkce_verifier.to_string()),
    ];
    match auth {
        ClientAuth::ClientSecretBasic => {
            use base64::Engine;
            // RFC 6749 §2.3.1: each part form-encoded before joining.
            let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", enc(client_id), enc(client_secret));
            let basic = base64::engine::general_purpose::STANDARD.encode(pair);
            (form, Some(format!("Basic {basic}")))
        }
        ClientAuth::ClientSecretPost => {
            form.push(("client_id", client_id.to_string()));
            form.push(("client_secret", client_secret.to_string()));
            (form, None)
        }
    }
}

/// What the token endpoint answered: the ID token and the access token (for userinfo).
#[derive(Clone)]
pub struct Tokens {
    pub id_token: String,
    pub access_token: Option<String>,
}

/// Credentials never reach a log: `Debug` shows only their sizes.
impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("id_token", &format_args!("<{} bytes>", self.id_token.len()))
            .field("access_token", &self.access_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Reads the token endpoint's answer (`status`, body); an OAuth error answer becomes an
/// error that carries its code and description.
pub fn token_response(status: u16, body: &[u8]) -> Result<Tokens, OidcError> {
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(OidcError::Token(format!(
            "answer larger than {} KiB",
            MAX_DOCUMENT_BYTES / 1024
        )));
    }
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| OidcError::Token(format!("answered {status} with a body that is not JSON")))?;
    let text = |k: &str| v.get(k).and_then(serde_json::Value::as_str).map(str::to_string);
    if let Some(error) = text("error") {
        let detail = text("error_description").map(|d| format!(": {d}")).unwrap_or_default();
        return Err(OidcError::Token(format!("answered {status} {error}{detail}")));
    }
    if !(200..300).contains(&status) {
        return Err(OidcError::Token(format!("answered {status}")));
    }
    if let Some(t) = text("token_type") {
        if !t.eq_ignore_ascii_case("bearer") {
            return Err(OidcError::Token(format!("token_type '{t}' is not Bearer")));
        }
    }
    let id_token = text("id_token").ok_or_else(|| {
        OidcError::Token("no id_token in the answer: is the `openid` scope granted to the client?".into())
    })?;
    Ok(Tokens {
        id_token,
        access_token: text("access_token"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_are_https_except_on_this_machine() {
        assert!(check_issuer("https://idp.example/realms/acme").is_ok());
        assert!(check_issuer("http://127.0.0.1:4000").is_ok());
        assert!(check_issuer("http://localhost:4000/oidc").is_ok());
        assert!(check_issuer("http://[::1]:4000").is_ok());
        for bad in [
            "http://idp.example",
            "ftp://idp.example",
            "https://user:pw@idp.example",
            "https://idp.example/?x=1",
            "not a url",
            "http://127.0.0.1.evil.example",
        ] {
            assert!(check_issuer(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn entra_multi_tenant_issuers_are_refused_with_what_to_paste() {
        let tenant = "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0";
        assert!(check_issuer(tenant).is_ok());
        for alias in ["common", "organizations", "consumers", "Common"] {
            let err = check_issuer(&format!("https://login.microsoftonline.com/{alias}/v2.0"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("<tenant id>/v2.0"), "{err}");
        }
    }

    fn doc(issuer: &str) -> String {
        serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/auth"),
            "token_endpoint": format!("{issuer}/token"),
            "userinfo_endpoint": format!("{issuer}/me"),
            "jwks_uri": format!("{issuer}/jwks"),
            "code_challenge_methods_supported": ["S256"],
        })
        .to_string()
    }

    #[test]
    fn discovery_must_name_the_configured_issuer_exactly() {
        let issuer = "https://idp.example/realms/acme";
        let m = ProviderMetadata::parse(doc(issuer).as_bytes(), issuer).unwrap();
        assert_eq!(m.token_endpoint, format!("{issuer}/token"));
        for other in [
            format!("{issuer}/"),
            "https://evil.example".into(),
            issuer.to_uppercase(),
        ] {
            let err = ProviderMetadata::parse(doc(&other).as_bytes(), issuer).unwrap_err();
            assert!(matches!(err, OidcError::Discovery(_)), "{other}: {err}");
        }
        let mut plain: serde_json::Value = serde_json::from_str(&doc(issuer)).unwrap();
        plain["token_endpoint"] = "http://idp.example/token".into();
        assert!(ProviderMetadata::parse(plain.to_string().as_bytes(), issuer).is_err());
        plain["token_endpoint"] = "http://127.0.0.1:8080/token".into();
        assert!(
            ProviderMetadata::parse(plain.to_string().as_bytes(), issuer).is_err(),
            "a provider elsewhere cannot point Roster at its own machine"
        );
        plain["token_endpoint"] = format!("{issuer}/token").into();
        plain["code_challenge_methods_supported"] = serde_json::json!(["plain"]);
        assert!(ProviderMetadata::parse(plain.to_string().as_bytes(), issuer).is_err());
        assert!(ProviderMetadata::parse(b"<html>", issuer).is_err());
        assert!(ProviderMetadata::parse(&vec![b' '; MAX_DOCUMENT_BYTES + 1], issuer).is_err());
    }

    #[test]
    fn the_authorization_url_carries_pkce_s256_state_and_nonce() {
        let url = AuthorizationRequest {
            authorization_endpoint: "https://idp.example/auth?tenant=1",
            client_id: "roster",
            redirect_uri: "https://roster.example/sso/oidc/c1/callback",
            scopes: "openid email profile",
            state: "st",
            nonce: "nn",
            pkce_verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            login_hint: Some("jo@acme.example"),
            prompt_login: false,
        }
        .url()
        .unwrap();
        let u = url::Url::parse(&url).unwrap();
        let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
        assert!(!q.contains_key("prompt"));
        assert_eq!(q["tenant"], "1");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["scope"], "openid email profile");
        assert_eq!((q["state"].as_str(), q["nonce"].as_str()), ("st", "nn"));
        // RFC 7636 Appendix B.
        assert_eq!(q["code_challenge"], "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["login_hint"], "jo@acme.example");
        assert!(!url.contains("secret"));
    }

    #[test]
    fn the_client_secret_goes_in_basic_auth_or_the_form() {
        let (form, header) = token_request(ClientAuth::ClientSecretBasic, "a b", "s:1", "c", "https://r", "v");
        assert!(!form.iter().any(|(k, _)| *k == "client_secret"));
        // "a+b:s%3A1": each part form-encoded (RFC 6749 §2.3.1).
        assert_eq!(header.as_deref(), Some("Basic YStiOnMlM0Ex"));
        let (form, header) = token_request(ClientAuth::ClientSecretPost, "a", "s", "c", "https://r", "v");
        assert!(header.is_none());
        assert!(form.contains(&("client_secret", "s".into())));
        assert!(form.contains(&("code_verifier", "v".into())));
    }

    #[test]
    fn token_errors_say_what_the_provider_said() {
        let err = token_response(400, br#"{"error":"invalid_grant","error_description":"code expired"}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "token endpoint: answered 400 invalid_grant: code expired"
        );
        assert!(token_response(200, br#"{"access_token":"a","token_type":"Bearer"}"#).is_err());
        assert!(token_response(200, b"garbage").is_err());
        assert!(token_response(500, b"{}").is_err());
        assert!(token_response(200, br#"{"id_token":"x","token_type":"mac"}"#).is_err());
        let t = token_response(
            200,
            br#"{"id_token":"x.y.z","access_token":"secret-a","token_type":"bearer"}"#,
        )
        .unwrap();
        assert_eq!(
            (t.id_token.as_str(), t.access_token.as_deref()),
            ("x.y.z", Some("secret-a"))
        );
        let shown = format!("{t:?}");
        assert!(!shown.contains("x.y.z") && !shown.contains("secret-a"), "{shown}");
    }
}
