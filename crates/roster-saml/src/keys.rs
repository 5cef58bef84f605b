//! Keys: the IdP's certificates (the only keys a signature is checked with) and the
//! SP's own key pair (signs AuthnRequests, decrypts EncryptedAssertions).
//!
//! The IdP's certificates are used only as public-key containers: their own signatures,
//! chains and validity are not what makes them trusted — being configured on the
//! connection is. Their expiry is reported so an admin can be warned.

use crate::SamlError;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, OaepPrivateDecryptingKey, PrivateDecryptingKey};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use x509_cert::der::{Decode, Encode};
use x509_cert::Certificate;

const RSA_OID: &str = "1.2.840.113549.1.1.1";
const EC_OID: &str = "1.2.840.10045.2.1";
const P256_OID: &str = "1.2.840.10045.3.1.7";
const P384_OID: &str = "1.3.132.0.34";

/// The kind of public key a certificate holds, which decides the algorithms it may verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    EcP256,
    EcP384,
}

/// A public key from a configured IdP certificate.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    pub kind: KeyKind,
    /// RSA: the PKCS#1 `RSAPublicKey`; EC: the uncompressed point.
    pub public_key: Vec<u8>,
    /// The certificate's notAfter, in Unix milliseconds.
    pub not_after_ms: i64,
    pub subject: String,
    /// The certificate, DER.
    pub der: Vec<u8>,
}

impl TrustedKey {
    /// A certificate in PEM (`-----BEGIN CERTIFICATE-----`) or as bare base64 DER, the
    /// form metadata and `X509Certificate` elements use.
    pub fn parse(text: &str) -> Result<Self, SamlError> {
        // The PEM armour is taken off here and the body decoded as base64: the DER
        // decoder then sees a bounded byte string (the PEM reader of `der` can spin on
        // a truncated body).
        let mut body = text.trim();
        if body.starts_with("-----BEGIN") {
            const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
            const END: &str = "-----END CERTIFICATE-----";
            body = body
                .strip_prefix(BEGIN)
                .and_then(|b| b.strip_suffix(END))
                .ok_or_else(|| SamlError::Certificate("not a PEM certificate".into()))?;
        }
        let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        let der = STANDARD
            .decode(compact)
            .map_err(|_| SamlError::Certificate("not PEM and not base64".into()))?;
        Self::from_der(&der)
    }

    pub fn from_der(der: &[u8]) -> Result<Self, SamlError> {
        let cert = Certificate::from_der(der).map_err(|e| SamlError::Certificate(format!("not a certificate: {e}")))?;
        Self::from_cert(&cert)
    }

    fn from_cert(cert: &Certificate) -> Result<Self, SamlError> {
        let tbs = &cert.tbs_certificate;
        let spki = &tbs.subject_public_key_info;
        let oid = spki.algorithm.oid.to_string();
        let kind = if oid == RSA_OID {
            KeyKind::Rsa
        } else if oid == EC_OID {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<x509_cert::der::asn1::ObjectIdentifier>().ok())
                .map(|o| o.to_string());
            match curve.as_deref() {
                Some(P256_OID) => KeyKind::EcP256,
                Some(P384_OID) => KeyKind::EcP384,
                _ => {
                    return Err(SamlError::Certificate(
                        "an EC key on a curve other than P-256 or P-384".into(),
                    ))
                }
            }
        } else {
            return Err(SamlError::Certificate(format!(
                "unsupported public key algorithm {oid}"
            )));
        };
        let public_key = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| SamlError::Certificate("a malformed public key".into()))?
            .to_vec();
        let not_after_ms = i64::try_from(tbs.validity.not_after.to_unix_duration().as_millis()).unwrap_or(i64::MAX);
        let der = cert
            .to_der()
            .map_err(|e| SamlError::Certificate(format!("cannot re-encode the certificate: {e}")))?;
        Ok(Self {
            kind,
            public_key,
            not_after_ms,
            subject: tbs.subject.to_string(),
            der,
        })
    }

    /// The certificate as bare base64, as metadata writes it.
    pub fn base64(&self) -> String {
        STANDARD.encode(&self.der)
    }
}

/// Every certificate in a PEM bundle (or one bare base64 certificate).
pub fn parse_certificates(text: &str) -> Result<Vec<TrustedKey>, SamlError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    if !text.contains(BEGIN) {
        return Ok(vec![TrustedKey::parse(text)?]);
    }
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let tail = rest.get(start..).unwrap_or_default();
        let end = tail
            .find(END)
            .ok_or_else(|| SamlError::Certificate("a PEM certificate without its END line".into()))?;
        let block = tail.get(..end + END.len()).unwrap_or_default();
        out.push(TrustedKey::parse(block)?);
        rest = tail.get(end + END.len()..).unwrap_or_default();
    }
    Ok(out)
}

/// The SP's key pair: RSA 2048, with a self-signed certificate to publish in metadata.
#[derive(Debug, Clone)]
pub struct SpKeyMaterial {
    /// PKCS#8, PEM.
    pub private_key_pem: String,
    pub certificate_pem: String,
    pub not_after_ms: i64,
}

/// Makes a new SP key pair whose certificate names `entity_id` and is valid for
/// `valid_days` from `now_ms`.
pub fn generate_sp_key(entity_id: &str, now_ms: i64, valid_days: i64) -> Result<SpKeyMaterial, SamlError> {
    let fail = |what: &str| SamlError::Key(format!("cannot {what}"));
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| fail("generate an RSA key"))?;
    let pkcs8 = pair.as_der().map_err(|_| fail("encode the key"))?;
    let pkcs8_bytes = pkcs8.as_ref().to_vec();
    let signer =
        rcgen::KeyPair::try_from(pkcs8_bytes.as_slice()).map_err(|_| fail("load the key for the certificate"))?;
    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(
        rcgen::DnType::CommonName,
        entity_id.chars().take(64).collect::<String>(),
    );
    dn.push(rcgen::DnType::OrganizationName, "Roster SAML SP");
    params.distinguished_name = dn;
    let now = time::OffsetDateTime::from_unix_timestamp(now_ms / 1000).map_err(|_| fail("read the time"))?;
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(valid_days);
    let not_after_ms = params.not_after.unix_timestamp() * 1000;
    let cert = params.self_signed(&signer).map_err(|_| fail("sign the certificate"))?;
    let private_key_pem = pem_block("PRIVATE KEY", &pkcs8_bytes);
    Ok(SpKeyMaterial {
        private_key_pem,
        certificate_pem: cert.pem(),
        not_after_ms,
    })
}

fn pem_block(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The base64 body of a PEM block, without its armour lines and whitespace (as
/// metadata's `X509Certificate` carries a certificate).
pub fn pem_body(pem: &str) -> String {
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect()
}

fn pkcs8_der(pem: &str) -> Result<Vec<u8>, SamlError> {
    STANDARD
        .decode(pem_body(pem))
        .map_err(|_| SamlError::Key("the SP private key is not PEM".into()))
}

/// The SP's private key, loaded for signing and decrypting.
pub struct SpKey {
    signer: RsaKeyPair,
    pub(crate) decrypter: OaepPrivateDecryptingKey,
}

impl std::fmt::Debug for SpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SpKey(..)")
    }
}

impl SpKey {
    pub fn from_pem(pem: &str) -> Result<Self, SamlError> {
        let der = pkcs8_der(pem)?;
        let signer = RsaKeyPair::from_pkcs8(&der)
            .map_err(|_| SamlError::Key("the SP private key is not an RSA PKCS#8 key".into()))?;
        let decrypter = PrivateDecryptingKey::from_pkcs8(&der)
            .ok()
            .and_then(|k| OaepPrivateDecryptingKey::new(k).ok())
            .ok_or_else(|| SamlError::Key("the SP private key cannot decrypt".into()))?;
        Ok(Self { signer, decrypter })
    }

    /// RSA-SHA256 (PKCS#1 v1.5) signature of `data`.
    pub fn sign_sha256(&self, data: &[u8]) -> Result<Vec<u8>, SamlError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut sig = vec![0u8; self.signer.public_modulus_len()];
        self.signer
            .sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &rng, data, &mut sig)
            .map_err(|_| SamlError::Key("cannot sign".into()))?;
        Ok(sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_certificates_are_errors() {
        for bad in [
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
            "-----BEGIN CERTIFICATE-----\nMIIB",
            "MIIB",
            "not base64 at all",
            "",
        ] {
            assert!(
                matches!(TrustedKey::parse(bad), Err(SamlError::Certificate(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_generated_sp_key_round_trips() {
        let m = generate_sp_key("https://sp.example/metadata", 1_800_000_000_000, 3650).unwrap();
        let k = TrustedKey::parse(&m.certificate_pem).unwrap();
        assert_eq!(k.kind, KeyKind::Rsa);
        assert!(k.not_after_ms > 1_800_000_000_000);
        let sp = SpKey::from_pem(&m.private_key_pem).unwrap();
        let sig = sp.sign_sha256(b"hello").unwrap();
        let pk = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            &k.public_key,
        );
        assert!(pk.verify(b"hello", &sig).is_ok());
        assert_eq!(
            parse_certificates(&(m.certificate_pem.clone() + &m.certificate_pem))
                .unwrap()
                .len(),
            2
        );
    }
}
