//! SAML 2.0 for Roster's service provider, without IO and without reading the clock
//! (callers pass `now`).
//!
//! - [`xml`]: a strict XML tree (no DTDs, bounded depth and size, prefixes kept, text
//!   that comments and CDATA cannot split).
//! - [`c14n`]: exclusive canonicalization, the only one accepted.
//! - [`dsig`]: XML Signature verification bound to the element that must be signed,
//!   with allowlisted algorithms and keys only from the connection's certificates.
//! - [`encrypted`]: `EncryptedAssertion` decryption (RSA-OAEP, AES-GCM; AES-CBC opt-in).
//! - [`response`]: Response validation, from the POSTed field to a verified assertion.
//! - [`authn`]: the AuthnRequest and its HTTP-Redirect URL.
//! - [`metadata`]: SP metadata, IdP metadata parsing.
//! - [`keys`]: certificates and the SP's key pair.
//!
//! The verifier is our own, narrow on purpose: it accepts exactly the signature profile
//! SAML IdPs use (one enveloped, exclusive-C14N signature referencing the Response or
//! Assertion by ID) and refuses everything else, which is what closes off signature
//! wrapping. The checks a caller must still make with its storage — that
//! `in_response_to` names a request it issued for this connection, and that the
//! assertion ID was not seen before — are left to it, with the values it needs.

pub mod authn;
pub mod c14n;
pub mod dsig;
pub mod encrypted;
pub mod keys;
pub mod metadata;
pub mod response;
pub mod xml;

pub use dsig::AlgorithmPolicy;
pub use keys::{SpKey, TrustedKey};
pub use response::{decode_post, verify_response, Expectations, VerifiedAssertion};
pub use xml::Limits;

pub const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";

/// Why a message, key or metadata document was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SamlError {
    #[error("malformed SAML: {0}")]
    Malformed(String),
    #[error("DTDs and entities are not allowed: {0}")]
    Dtd(String),
    #[error("too large: {0}")]
    TooLarge(String),
    #[error("signature refused: {0}")]
    Signature(String),
    #[error("algorithm refused: {0}")]
    WeakAlgorithm(String),
    #[error("neither the Response nor the Assertion is signed")]
    Unsigned,
    #[error("the IdP answered with status {0}")]
    Status(String),
    #[error("issuer mismatch: {0}")]
    Issuer(String),
    #[error("destination mismatch: {0}")]
    Destination(String),
    #[error("recipient mismatch: {0}")]
    Recipient(String),
    #[error("audience mismatch: {0}")]
    Audience(String),
    #[error("outside its validity window: {0}")]
    Expired(String),
    #[error("subject refused: {0}")]
    Subject(String),
    #[error("cannot decrypt the assertion: {0}")]
    Decrypt(String),
    #[error("certificate refused: {0}")]
    Certificate(String),
    #[error("key error: {0}")]
    Key(String),
    #[error("metadata refused: {0}")]
    Metadata(String),
}

impl SamlError {
    /// A short, stable code for logs and the error log.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "saml_malformed",
            Self::Dtd(_) => "saml_dtd",
            Self::TooLarge(_) => "saml_too_large",
            Self::Signature(_) => "saml_signature",
            Self::WeakAlgorithm(_) => "saml_algorithm",
            Self::Unsigned => "saml_unsigned",
            Self::Status(_) => "saml_status",
            Self::Issuer(_) => "saml_issuer",
            Self::Destination(_) => "saml_destination",
            Self::Recipient(_) => "saml_recipient",
            Self::Audience(_) => "saml_audience",
            Self::Expired(_) => "saml_expired",
            Self::Subject(_) => "saml_subject",
            Self::Decrypt(_) => "saml_decrypt",
            Self::Certificate(_) => "saml_certificate",
            Self::Key(_) => "saml_key",
            Self::Metadata(_) => "saml_metadata",
        }
    }
}
