//! Unsigned Response documents, with signature templates where the signer fills them.

use crate::Idp;

/// Whose layout and habits a response copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `saml2p:`/`saml2:` prefixes, `xs:string`-typed values with `xs` an inclusive
    /// namespace, signed by xmlsec1.
    Okta,
    /// `samlp:` plus a default-namespace Assertion, claim-URI attribute names, persistent
    /// NameID, signed by xmlsec1.
    Entra,
    /// The assertion prefix declared on the Response (inherited), basic attribute
    /// names, signed by signxml.
    Google,
    /// ADFS: default-namespace Assertion, URI name format, `upn`, signed by signxml.
    Adfs,
}

/// Which elements get signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    Response,
    Assertion,
    Both,
    None,
}

#[derive(Debug, Clone)]
pub struct Attribute {
    pub name: String,
    pub name_format: Option<String>,
    pub values: Vec<String>,
}

/// Everything a response says.
#[derive(Debug, Clone)]
pub struct Spec {
    pub shape: Shape,
    pub signing: Signing,
    pub response_id: String,
    pub assertion_id: String,
    pub issuer: Option<String>,
    pub destination: Option<String>,
    pub recipient: String,
    pub audience: String,
    pub in_response_to: Option<String>,
    pub name_id: String,
    pub name_id_format: String,
    pub attributes: Vec<Attribute>,
    pub status: String,
    pub now_ms: i64,
    pub not_before_ms: i64,
    pub not_on_or_after_ms: i64,
    pub signature_algorithm: String,
    pub digest_algorithm: String,
}

pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const URI_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";
const BASIC_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic";

fn new_id() -> String {
    format!("_{}", uuid::Uuid::new_v4().simple())
}

impl Spec {
    /// A valid response from `shape` for the SP at `acs_url`/`audience`, naming `email`.
    pub fn new(shape: Shape, acs_url: &str, audience: &str, email: &str) -> Self {
        let now = crate::now_ms();
        let signing = match shape {
            Shape::Okta => Signing::Both,
            Shape::Entra | Shape::Adfs => Signing::Assertion,
            Shape::Google => Signing::Response,
        };
        let (name_id, name_id_format, attributes) = match shape {
            Shape::Okta => (
                email.to_string(),
                "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
                vec![
                    Attribute::new("email", &[email]).format("urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified")
                ],
            ),
            Shape::Entra => (
                "u3Qz-0x7RkVSsZ5nPyRcK1yF2v0Jx9S8Qm1rYtH4wEo".to_string(),
                "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
                vec![
                    Attribute::new(
                        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
                        &[email],
                    ),
                    Attribute::new(
                        "http://schemas.microsoft.com/identity/claims/tenantid",
                        &["8f6e0f7a-1a7e-4bb0-9d1e-2f4d2c1c9a11"],
                    ),
                ],
            ),
            Shape::Google => (
                email.to_string(),
                "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
                vec![Attribute::new("email", &[email]).format(BASIC_FORMAT)],
            ),
            Shape::Adfs => (
                email.to_string(),
                "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
                vec![
                    Attribute::new("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", &[email])
                        .format(URI_FORMAT),
                ],
            ),
        };
        Self {
            shape,
            signing,
            response_id: new_id(),
            assertion_id: new_id(),
            issuer: None,
            destination: Some(acs_url.to_string()),
            recipient: acs_url.to_string(),
            audience: audience.to_string(),
            in_response_to: None,
            name_id,
            name_id_format: name_id_format.to_string(),
            attributes,
            status: "urn:oasis:names:tc:SAML:2.0:status:Success".to_string(),
            now_ms: now,
            not_before_ms: now - 60_000,
            not_on_or_after_ms: now + 300_000,
            signature_algorithm: RSA_SHA256.to_string(),
            digest_algorithm: SHA256.to_string(),
        }
    }

    pub fn attr(mut self, name: &str, values: &[&str]) -> Self {
        self.attributes.push(Attribute::new(name, values));
        self
    }

    pub fn signing(mut self, s: Signing) -> Self {
        self.signing = s;
        self
    }

    /// Dates the response as issued at `now_ms` (valid from a minute before to five
    /// minutes after), for a server whose clock is not the wall clock.
    pub fn at(mut self, now_ms: i64) -> Self {
        self.now_ms = now_ms;
        self.not_before_ms = now_ms - 60_000;
        self.not_on_or_after_ms = now_ms + 300_000;
        self
    }

    pub fn in_response_to(mut self, id: &str) -> Self {
        self.in_response_to = Some(id.to_string());
        self
    }
}

impl Attribute {
    pub fn new(name: &str, values: &[&str]) -> Self {
        Self {
            name: name.to_string(),
            name_format: None,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    pub fn format(mut self, f: &str) -> Self {
        self.name_format = Some(f.to_string());
        self
    }
}

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(crate) fn instant(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms / 1000).expect("time");
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.format(&f).expect("format")
}

/// The signature template xmlsec1 fills in (or signxml's placeholder).
pub(crate) fn signature_template(spec: &Spec, id: &str) -> String {
    if matches!(spec.shape, Shape::Google | Shape::Adfs) {
        return r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="placeholder"></ds:Signature>"#
            .into();
    }
    let inclusive = if spec.shape == Shape::Okta {
        r#"<ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="xs"/>"#
    } else {
        ""
    };
    format!(
        concat!(
            r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>"#,
            r#"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#,
            r##"<ds:SignatureMethod Algorithm="{alg}"/><ds:Reference URI="#{id}"><ds:Transforms>"##,
            r#"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>"#,
            r#"<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#">{inc}</ds:Transform></ds:Transforms>"#,
            r#"<ds:DigestMethod Algorithm="{dig}"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo>"#,
            r#"<ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data></ds:X509Data></ds:KeyInfo></ds:Signature>"#
        ),
        alg = spec.signature_algorithm,
        id = id,
        inc = inclusive,
        dig = spec.digest_algorithm
    )
}

/// Markers where signatures go; the signer replaces them (or removes unused ones).
pub(crate) const SIG_RESPONSE: &str = "<!--SIG-RESPONSE-->";
pub(crate) const SIG_ASSERTION: &str = "<!--SIG-ASSERTION-->";

pub(crate) fn response_xml(idp: &Idp, spec: &Spec) -> String {
    let (p, a, assertion_ns_on_root, assertion_decl) = match spec.shape {
        Shape::Okta => (
            "saml2p:",
            "saml2:",
            "",
            r#" xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xs="http://www.w3.org/2001/XMLSchema""#,
        ),
        Shape::Entra | Shape::Adfs => ("samlp:", "", "", r#" xmlns="urn:oasis:names:tc:SAML:2.0:assertion""#),
        Shape::Google => (
            "saml2p:",
            "saml2:",
            r#" xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion""#,
            "",
        ),
    };
    let proto_decl = format!(
        r#" xmlns:{}="urn:oasis:names:tc:SAML:2.0:protocol""#,
        p.trim_end_matches(':')
    );
    let issuer = esc(spec.issuer.as_deref().unwrap_or(&idp.entity_id));
    let response_issuer = match spec.shape {
        Shape::Okta => format!(
            r#"<saml2:Issuer xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{issuer}</saml2:Issuer>"#
        ),
        Shape::Entra | Shape::Adfs => {
            format!(r#"<Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">{issuer}</Issuer>"#)
        }
        Shape::Google => format!("<saml2:Issuer>{issuer}</saml2:Issuer>"),
    };
    let irt = spec
        .in_response_to
        .as_ref()
        .map(|i| format!(r#" InResponseTo="{}""#, esc(i)))
        .unwrap_or_default();
    let dest = spec
        .destination
        .as_ref()
        .map(|d| format!(r#" Destination="{}""#, esc(d)))
        .unwrap_or_default();
    let now = instant(spec.now_ms);
    let mut attrs = String::new();
    for at in &spec.attributes {
        let fmt = at
            .name_format
            .as_ref()
            .map(|f| format!(r#" NameFormat="{}""#, esc(f)))
            .unwrap_or_default();
        attrs.push_str(&format!(r#"<{a}Attribute Name="{}"{fmt}>"#, esc(&at.name)));
        for v in &at.values {
            if spec.shape == Shape::Okta {
                attrs.push_str(&format!(
                    r#"<{a}AttributeValue xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">{}</{a}AttributeValue>"#,
                    esc(v)
                ));
            } else {
                attrs.push_str(&format!("<{a}AttributeValue>{}</{a}AttributeValue>", esc(v)));
            }
        }
        attrs.push_str(&format!("</{a}Attribute>"));
    }
    let attribute_statement = if attrs.is_empty() {
        String::new()
    } else {
        format!("<{a}AttributeStatement>{attrs}</{a}AttributeStatement>")
    };
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<{p}Response{proto_decl}{root_ns} ID="{rid}" Version="2.0" IssueInstant="{now}"{dest}{irt}>"#,
            "{response_issuer}{sig_response}",
            r#"<{p}Status><{p}StatusCode Value="{status}"/></{p}Status>"#,
            r#"<{a}Assertion{assertion_decl} ID="{aid}" IssueInstant="{now}" Version="2.0">"#,
            r#"<{a}Issuer>{issuer}</{a}Issuer>{sig_assertion}"#,
            r#"<{a}Subject><{a}NameID Format="{nif}">{name_id}</{a}NameID>"#,
            r#"<{a}SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">"#,
            r#"<{a}SubjectConfirmationData{irt} NotOnOrAfter="{noa}" Recipient="{recipient}"/></{a}SubjectConfirmation></{a}Subject>"#,
            r#"<{a}Conditions NotBefore="{nb}" NotOnOrAfter="{noa}"><{a}AudienceRestriction><{a}Audience>{aud}</{a}Audience>"#,
            r#"</{a}AudienceRestriction></{a}Conditions>"#,
            r#"<{a}AuthnStatement AuthnInstant="{now}" SessionIndex="{aid}"><{a}AuthnContext>"#,
            r#"<{a}AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</{a}AuthnContextClassRef>"#,
            r#"</{a}AuthnContext></{a}AuthnStatement>{attrs}</{a}Assertion></{p}Response>"#
        ),
        p = p,
        a = a,
        proto_decl = proto_decl,
        root_ns = assertion_ns_on_root,
        rid = spec.response_id,
        now = now,
        dest = dest,
        irt = irt,
        response_issuer = response_issuer,
        sig_response = SIG_RESPONSE,
        status = esc(&spec.status),
        assertion_decl = assertion_decl,
        aid = spec.assertion_id,
        issuer = issuer,
        sig_assertion = SIG_ASSERTION,
        nif = esc(&spec.name_id_format),
        name_id = esc(&spec.name_id),
        noa = instant(spec.not_on_or_after_ms),
        recipient = esc(&spec.recipient),
        nb = instant(spec.not_before_ms),
        aud = esc(&spec.audience),
        attrs = attribute_statement,
    )
}
