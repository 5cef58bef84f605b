//! The AuthnRequest, sent with the HTTP-Redirect binding (SAML Bindings §3.4):
//! raw DEFLATE, base64, URL-encoded, optionally signed with the SP key over the query
//! string (`SAMLRequest`, `RelayState`, `SigAlg`, in that order).

use crate::keys::SpKey;
use crate::SamlError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::io::Write;

const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

/// One AuthnRequest.
#[derive(Debug, Clone)]
pub struct AuthnRequest<'a> {
    /// The request ID (an NCName: starts with a letter or `_`); the response's
    /// `InResponseTo` must name it.
    pub id: &'a str,
    pub issue_instant_ms: i64,
    pub sp_entity_id: &'a str,
    pub acs_url: &'a str,
    pub idp_sso_url: &'a str,
    /// Asks the IdP to authenticate the person again even if it has a session for them
    /// (`ForceAuthn`): an app asked for a fresh sign-in.
    pub force_authn: bool,
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(crate) fn instant(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&f).unwrap_or_default()
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl AuthnRequest<'_> {
    pub fn to_xml(&self) -> String {
        format!(
            concat!(
                r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" "#,
                r#"ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{dest}"{force} "#,
                r#"ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" AssertionConsumerServiceURL="{acs}">"#,
                r#"<saml:Issuer>{issuer}</saml:Issuer>"#,
                r#"<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true"/>"#,
                r#"</samlp:AuthnRequest>"#
            ),
            id = escape(self.id),
            instant = instant(self.issue_instant_ms),
            dest = escape(self.idp_sso_url),
            force = if self.force_authn { r#" ForceAuthn="true""# } else { "" },
            acs = escape(self.acs_url),
            issuer = escape(self.sp_entity_id),
        )
    }

    /// The URL to send the browser to: the IdP's SSO URL with `SAMLRequest`,
    /// `RelayState` and, when `signer` is given, `SigAlg` and `Signature`.
    pub fn redirect_url(&self, relay_state: &str, signer: Option<&SpKey>) -> Result<String, SamlError> {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(self.to_xml().as_bytes())
            .map_err(|_| SamlError::Malformed("cannot compress the request".into()))?;
        let deflated = enc
            .finish()
            .map_err(|_| SamlError::Malformed("cannot compress the request".into()))?;
        let mut query = format!("SAMLRequest={}", url_encode(&STANDARD.encode(deflated)));
        if !relay_state.is_empty() {
            query.push_str(&format!("&RelayState={}", url_encode(relay_state)));
        }
        if let Some(key) = signer {
            query.push_str(&format!("&SigAlg={}", url_encode(RSA_SHA256)));
            let sig = key.sign_sha256(query.as_bytes())?;
            query.push_str(&format!("&Signature={}", url_encode(&STANDARD.encode(sig))));
        }
        let sep = if self.idp_sso_url.contains('?') { '&' } else { '?' };
        Ok(format!("{}{sep}{query}", self.idp_sso_url))
    }
}
