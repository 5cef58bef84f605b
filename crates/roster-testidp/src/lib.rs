//! A test identity provider.
//!
//! It writes SAML Responses in the shapes Okta, Microsoft Entra ID, Google and ADFS send
//! (their namespace prefixes, attribute names and which element they sign), and has
//! third-party software do the cryptography: `xmlsec1` signs and encrypts, Python
//! `signxml` signs the Google and ADFS shapes. Roster's verifier never checks its own
//! signatures. [`attacks`] turns a valid signed response into the known attacks.
//!
//! Tools are found on `PATH` (`xmlsec1`) and at `$ROSTER_PYTHON` (a Python with
//! `signxml`; default `~/.cache/roster-venv/bin/python`), both installed by
//! `scripts/deps.sh`.

pub mod attacks;
mod build;
mod tools;

pub use build::{Attribute, Shape, Signing, Spec};
pub use tools::{python, run_xmlsec1};

use std::path::{Path, PathBuf};

/// An IdP key pair and certificate, kept in a temporary directory.
pub struct Idp {
    pub entity_id: String,
    pub dir: PathBuf,
    pub certificate_pem: String,
    /// "rsa" or "ec".
    pub kind: &'static str,
}

impl Idp {
    /// A new RSA-2048 IdP.
    pub fn rsa(entity_id: &str) -> Self {
        let m = roster_saml::keys::generate_sp_key(entity_id, now_ms(), 365).expect("generate an IdP key");
        Self::store(entity_id, &m.private_key_pem, &m.certificate_pem, "rsa")
    }

    /// A new ECDSA P-256 IdP.
    pub fn ec(entity_id: &str) -> Self {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("EC key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(rcgen::DnType::CommonName, "test idp");
        let cert = params.self_signed(&key).expect("self-signed");
        Self::store(entity_id, &key.serialize_pem(), &cert.pem(), "ec")
    }

    fn store(entity_id: &str, key_pem: &str, cert_pem: &str, kind: &'static str) -> Self {
        let dir = std::env::temp_dir().join(format!("roster-testidp-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("key.pem"), key_pem).expect("write key");
        std::fs::write(dir.join("cert.pem"), cert_pem).expect("write cert");
        Self {
            entity_id: entity_id.to_string(),
            dir,
            certificate_pem: cert_pem.to_string(),
            kind,
        }
    }

    pub fn key_path(&self) -> PathBuf {
        self.dir.join("key.pem")
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    /// The response `spec` describes, signed as its `signing` says.
    pub fn response(&self, spec: &Spec) -> String {
        let xml = build::response_xml(self, spec);
        tools::sign(self, &xml, spec, &|doc| doc)
    }

    /// As [`Idp::response`], with the (signed) assertion then encrypted for the SP
    /// certificate `sp_cert_pem` by xmlsec1 (RSA-OAEP + `content_alg`).
    pub fn encrypted_response(&self, spec: &Spec, sp_cert_pem: &str, content_alg: &str) -> String {
        let xml = build::response_xml(self, spec);
        tools::sign(self, &xml, spec, &|doc| {
            tools::encrypt_assertion(&self.dir, &doc, spec, sp_cert_pem, content_alg)
        })
    }

    /// IdP metadata naming this IdP and its certificate.
    pub fn metadata(&self, sso_url: &str) -> String {
        let b64: String = self
            .certificate_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        format!(
            concat!(
                r#"<?xml version="1.0"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{e}">"#,
                r#"<md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">"#,
                r#"<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{c}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
                r#"<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>"#,
                r#"<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{s}/post"/>"#,
                r#"<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{s}"/>"#,
                r#"</md:IDPSSODescriptor></md:EntityDescriptor>"#
            ),
            e = self.entity_id,
            c = b64,
            s = sso_url
        )
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Now, in Unix milliseconds.
/// What an SP at `acs` / `sp` (its entity id) checks of a response from `idp_entity_id`
/// signed with `keys`: default policy (no SHA-1, no CBC), no SP keys, 120 s of skew, the
/// wall clock, default limits. Override fields with struct update syntax.
pub fn expectations<'a>(
    idp_entity_id: &'a str,
    keys: &'a [roster_saml::TrustedKey],
    acs: &'a str,
    sp: &'a str,
) -> roster_saml::Expectations<'a> {
    roster_saml::Expectations {
        sp_entity_id: sp,
        acs_url: acs,
        idp_entity_id,
        idp_keys: keys,
        policy: roster_saml::AlgorithmPolicy::default(),
        allow_cbc: false,
        sp_keys: &[],
        clock_skew_ms: 120_000,
        now_ms: now_ms(),
        limits: roster_saml::Limits::default(),
    }
}

pub fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp() * 1000
}

/// Base64 of `xml`, as the HTTP-POST binding sends it.
pub fn post_field(xml: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(xml.as_bytes())
}

pub(crate) fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(format!("{}-{name}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&p, content).expect("write temp file");
    p
}
