//! Metadata: the SP's own (generated) and the IdP's (parsed).

use crate::authn::escape;
use crate::dsig::NS_DSIG;
use crate::keys::TrustedKey;
use crate::xml::{Document, Limits, NodeId};
use crate::SamlError;

pub const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// The SP's metadata document.
#[derive(Debug, Clone)]
pub struct SpMetadata<'a> {
    pub entity_id: &'a str,
    pub acs_url: &'a str,
    /// Certificates (bare base64 DER) published for signing and encryption; during a
    /// key rotation both the current and the next key are listed.
    pub certificates: &'a [String],
    pub authn_requests_signed: bool,
}

impl SpMetadata<'_> {
    pub fn to_xml(&self) -> String {
        let mut keys = String::new();
        for cert in self.certificates {
            for usage in ["signing", "encryption"] {
                keys.push_str(&format!(
                    concat!(
                        r#"<md:KeyDescriptor use="{usage}"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}"#,
                        r#"</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"#,
                        "{methods}</md:KeyDescriptor>"
                    ),
                    usage = usage,
                    cert = cert,
                    methods = if usage == "encryption" {
                        concat!(
                            r#"<md:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/>"#,
                            r#"<md:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes128-gcm"/>"#,
                            r#"<md:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/>"#
                        )
                    } else {
                        ""
                    }
                ));
            }
        }
        format!(
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                "\n",
                r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity}">"#,
                r#"<md:SPSSODescriptor AuthnRequestsSigned="{signed}" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">"#,
                "{keys}",
                r#"<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>"#,
                r#"<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs}" index="0" isDefault="true"/>"#,
                r#"</md:SPSSODescriptor></md:EntityDescriptor>"#,
                "\n"
            ),
            entity = escape(self.entity_id),
            signed = self.authn_requests_signed,
            keys = keys,
            acs = escape(self.acs_url),
        )
    }
}

/// What an IdP's metadata says about it.
#[derive(Debug, Clone)]
pub struct IdpMetadata {
    pub entity_id: String,
    /// The HTTP-Redirect SSO endpoint (else the HTTP-POST one).
    pub sso_url: String,
    /// Every signing certificate (those with `use="signing"` or no `use`), PEM.
    pub certificates: Vec<String>,
}

/// Parses IdP metadata: an `EntityDescriptor`, or an `EntitiesDescriptor` whose first
/// entity with an `IDPSSODescriptor` is taken.
pub fn parse_idp_metadata(xml: &str) -> Result<IdpMetadata, SamlError> {
    let limits = Limits {
        max_bytes: 1024 * 1024,
        max_depth: 32,
        max_nodes: 100_000,
    };
    let doc = Document::parse(xml, limits)?;
    let bad = |m: &str| SamlError::Metadata(m.to_string());
    let entity = if doc.is(doc.root, NS_METADATA, "EntityDescriptor") {
        doc.root
    } else if doc.is(doc.root, NS_METADATA, "EntitiesDescriptor") {
        doc.children_named(doc.root, NS_METADATA, "EntityDescriptor")
            .find(|e| doc.children_named(*e, NS_METADATA, "IDPSSODescriptor").next().is_some())
            .ok_or_else(|| bad("no entity with an IDPSSODescriptor"))?
    } else {
        return Err(bad("not SAML metadata (no EntityDescriptor)"));
    };
    let entity_id = doc
        .attr(entity, "entityID")
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| bad("the EntityDescriptor has no entityID"))?
        .trim()
        .to_string();
    let idp = doc
        .children_named(entity, NS_METADATA, "IDPSSODescriptor")
        .next()
        .ok_or_else(|| bad("no IDPSSODescriptor"))?;
    let sso = |binding: &str| -> Option<String> {
        doc.children_named(idp, NS_METADATA, "SingleSignOnService")
            .find(|s| doc.attr(*s, "Binding") == Some(binding))
            .and_then(|s| doc.attr(s, "Location"))
            .map(|s| s.trim().to_string())
    };
    let sso_url = sso(REDIRECT)
        .or_else(|| sso(POST))
        .ok_or_else(|| bad("no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding"))?;
    let mut certificates = Vec::new();
    for kd in doc.children_named(idp, NS_METADATA, "KeyDescriptor") {
        if !matches!(doc.attr(kd, "use"), None | Some("signing")) {
            continue;
        }
        for c in certificates_in(&doc, kd) {
            let key = TrustedKey::parse(&doc.text(c))?;
            certificates.push(to_pem(&key.der));
        }
    }
    if certificates.is_empty() {
        return Err(bad("no signing certificate"));
    }
    certificates.dedup();
    Ok(IdpMetadata {
        entity_id,
        sso_url,
        certificates,
    })
}

fn certificates_in(doc: &Document, key_descriptor: NodeId) -> Vec<NodeId> {
    doc.children_named(key_descriptor, NS_DSIG, "KeyInfo")
        .flat_map(|ki| doc.children_named(ki, NS_DSIG, "X509Data").collect::<Vec<_>>())
        .flat_map(|xd| doc.children_named(xd, NS_DSIG, "X509Certificate").collect::<Vec<_>>())
        .collect()
}

/// A DER certificate as PEM.
pub fn to_pem(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}
