//! The provider side's registration rules for apps (OAuth 2.0 clients): what a client
//! may be registered with. Pure: the server checks a registration with these before
//! storing it.

use serde::{Deserialize, Serialize};

/// The most redirect URIs (and post-logout redirect URIs) one app may register.
pub const MAX_URIS: usize = 20;
const MAX_URI_CHARS: usize = 2048;

/// Whether the app can keep a secret (a server) or not (a browser or native app).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ClientType {
    #[default]
    Confidential,
    Public,
}

impl ClientType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }
}

/// How a client authenticates at the token endpoint: a confidential app with its secret
/// (`client_secret_basic` by default, or `client_secret_post`), a public one not at all
/// (`none`, with PKCE).
pub fn auth_method(client_type: ClientType, asked: Option<&str>) -> Result<&'static str, String> {
    match (client_type, asked) {
        (ClientType::Confidential, None | Some("client_secret_basic")) => Ok("client_secret_basic"),
        (ClientType::Confidential, Some("client_secret_post")) => Ok("client_secret_post"),
        (ClientType::Public, None | Some("none")) => Ok("none"),
        (ClientType::Confidential, Some(other)) => Err(format!(
            "token_endpoint_auth_method '{other}' is not offered to a confidential app: client_secret_basic or client_secret_post"
        )),
        (ClientType::Public, Some(other)) => Err(format!(
            "a public app cannot keep a secret, so its token_endpoint_auth_method is `none` (with PKCE), not '{other}'"
        )),
    }
}

/// The algorithm an app's ID tokens are signed with: RS256 by default, ES256 or EdDSA
/// when the app asks.
pub fn signing_alg(asked: Option<&str>) -> Result<&'static str, String> {
    match asked {
        None | Some("RS256") => Ok("RS256"),
        Some("ES256") => Ok("ES256"),
        Some("EdDSA") => Ok("EdDSA"),
        Some(other) => Err(format!(
            "id_token_signed_response_alg '{other}' is not offered: RS256, ES256 or EdDSA"
        )),
    }
}

fn loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Checks one URI an app registers to be sent back to (`what` names the list). Each is
/// later compared exactly, never as a prefix, so each must be complete: an absolute URL
/// without fragment or wildcard; `https`, or `http` on this machine (RFC 8252 §7.3); a
/// public (native) app may also use a private-use scheme with a dot, such as
/// `com.example.app:/callback` (RFC 8252 §7.1).
pub fn check_uri(what: &str, raw: &str, client_type: ClientType) -> Result<(), String> {
    if raw.is_empty() || raw.chars().count() > MAX_URI_CHARS {
        return Err(format!("{what}: each must be 1–{MAX_URI_CHARS} characters"));
    }
    if raw.contains('*') || raw.chars().any(char::is_whitespace) {
        return Err(format!(
            "{what} '{raw}': no wildcards or spaces; each is compared exactly"
        ));
    }
    let u = url::Url::parse(raw).map_err(|_| format!("{what} '{raw}' is not an absolute URL"))?;
    if u.fragment().is_some() {
        return Err(format!("{what} '{raw}' must not have a fragment"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(format!("{what} '{raw}' must not carry credentials"));
    }
    match (u.scheme(), u.host()) {
        ("https", Some(_)) => Ok(()),
        ("http", Some(host)) if loopback(&host) => Ok(()),
        ("http", _) => Err(format!("{what} '{raw}' must use https (plain http only on this machine)")),
        (scheme, _) if client_type == ClientType::Public && scheme.contains('.') => Ok(()),
        _ => Err(format!(
            "{what} '{raw}' must use https (or, for a public native app, a private-use scheme such as com.example.app:/callback)"
        )),
    }
}

/// Checks a list of URIs: at most [`MAX_URIS`], each by [`check_uri`], no duplicates.
/// Returns them as given.
pub fn check_uris(what: &str, uris: &[String], client_type: ClientType, required: bool) -> Result<(), String> {
    if required && uris.is_empty() {
        return Err(format!("{what}: at least one is needed"));
    }
    if uris.len() > MAX_URIS {
        return Err(format!("{what}: at most {MAX_URIS}"));
    }
    for (i, u) in uris.iter().enumerate() {
        check_uri(what, u, client_type)?;
        if uris.iter().take(i).any(|earlier| earlier == u) {
            return Err(format!("{what}: '{u}' is listed twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_methods_follow_the_client_type() {
        assert_eq!(auth_method(ClientType::Confidential, None), Ok("client_secret_basic"));
        assert_eq!(
            auth_method(ClientType::Confidential, Some("client_secret_post")),
            Ok("client_secret_post")
        );
        assert!(auth_method(ClientType::Confidential, Some("none")).is_err());
        assert!(auth_method(ClientType::Confidential, Some("private_key_jwt")).is_err());
        assert_eq!(auth_method(ClientType::Public, None), Ok("none"));
        assert!(auth_method(ClientType::Public, Some("client_secret_basic")).is_err());
    }

    #[test]
    fn only_the_offered_signing_algorithms() {
        assert_eq!(signing_alg(None), Ok("RS256"));
        assert_eq!(signing_alg(Some("EdDSA")), Ok("EdDSA"));
        for bad in ["none", "HS256", "RS512", "es256"] {
            assert!(signing_alg(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn redirect_uris_are_complete_and_safe() {
        let c = ClientType::Confidential;
        for ok in [
            "https://app.example/callback",
            "https://app.example:8443/cb?tenant=1",
            "http://127.0.0.1:3000/cb",
            "http://localhost/cb",
            "http://[::1]:8080/cb",
        ] {
            assert!(check_uri("redirect_uris", ok, c).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/callback",
            "http://app.example/cb",
            "https://app.example/cb#frag",
            "https://*.app.example/cb",
            "https://app.example/cb*",
            "https://user:pw@app.example/cb",
            "javascript:alert(1)",
            "com.example.app:/callback",
            "https://app.example/a b",
        ] {
            assert!(check_uri("redirect_uris", bad, c).is_err(), "{bad}");
        }
        assert!(check_uri("redirect_uris", "com.example.app:/callback", ClientType::Public).is_ok());
        assert!(check_uri("redirect_uris", "javascript:alert(1)", ClientType::Public).is_err());
        let twice = vec!["https://a.example/cb".to_string(); 2];
        assert!(check_uris("redirect_uris", &twice, c, true).is_err());
        assert!(check_uris("redirect_uris", &[], c, true).is_err());
        assert!(check_uris("post_logout_redirect_uris", &[], c, false).is_ok());
        let many: Vec<String> = (0..=MAX_URIS).map(|i| format!("https://a.example/{i}")).collect();
        assert!(check_uris("redirect_uris", &many, c, true).is_err());
    }
}
