//! OpenID Connect for Roster's relying party, without IO and without reading the clock
//! (callers pass `now`) or drawing randomness (callers pass `state`, `nonce` and the PKCE
//! verifier).
//!
//! - [`provider`]: the issuer rules (https, Entra's tenant-specific issuer), the
//!   discovery document, the authorization URL with PKCE S256, the token request and
//!   the token response.
//! - [`id_token`]: the JWKS and the ID token check: the signature by a key of the
//!   provider's JWKS only, with allowlisted algorithms, then every claim rule of
//!   OpenID Connect Core §3.1.3.7.
//! - [`client`]: the provider side's registration rules for apps (client types, token
//!   endpoint authentication, signing algorithms, redirect URIs compared exactly).
//! - [`signing`]: the provider side's key pairs (RS256, ES256, EdDSA), their public JWKs,
//!   and the JWS it mints.
//! - [`grant`]: the provider side's authorization request rules (exact redirect URIs,
//!   the code flow only, PKCE S256), the PKCE proof, and the claims of the ID tokens and
//!   back-channel logout tokens it signs.
//! - [`claims`]: userinfo merged under the ID token's claims, `email_verified`, and
//!   Entra's group overage (and the Microsoft Graph pages that make up for it).
//!
//! Signatures are checked by `jsonwebtoken` (on aws-lc-rs). What it does not do is done
//! here by hand: refusing `crit` headers and algorithms outside the list before any key
//! is chosen, choosing the key from the JWKS alone (never from the token's header),
//! refusing RSA keys under 2048 bits, and the claim checks, each with its own error.

pub mod claims;
pub mod client;
pub mod grant;
pub mod id_token;
pub mod provider;
pub mod signing;

pub use id_token::{verify_id_token, verify_signature, Expectations, Jwks};
pub use provider::ProviderMetadata;

/// Why a provider setting, document or token was refused. Each message says what was
/// wrong in words an administrator can act on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OidcError {
    /// The configured issuer cannot be used as it is.
    #[error("{0}")]
    Issuer(String),
    /// The discovery document is unusable.
    #[error("discovery document: {0}")]
    Discovery(String),
    /// The JWKS is unusable.
    #[error("JWKS: {0}")]
    Jwks(String),
    /// The token endpoint's answer is unusable, or it answered an error.
    #[error("token endpoint: {0}")]
    Token(String),
    /// The ID token is malformed or its signature does not verify.
    #[error("ID token: {0}")]
    IdToken(String),
    /// The token names a key (`kid`) the JWKS does not hold: the provider may have
    /// rotated its keys, and a fresh JWKS may hold it.
    #[error("ID token: signed with key '{0}', which the provider's JWKS does not hold")]
    UnknownKey(String),
    /// A claim breaks a rule.
    #[error("ID token claim {claim}: {why}")]
    Claim { claim: &'static str, why: String },
    /// The userinfo answer is unusable.
    #[error("userinfo: {0}")]
    Userinfo(String),
    /// The provider says the email address is not verified.
    #[error("the identity provider says the email address is not verified (email_verified is false)")]
    EmailNotVerified,
}

pub(crate) fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).ok()
}

pub(crate) fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
