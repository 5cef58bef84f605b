//! The provider's keys and the ID token check (OpenID Connect Core §3.1.3.7).

use crate::{b64url_decode, OidcError};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// The largest ID token read (a signed token of a few kilobytes; Entra's with many
/// groups stays well under this).
pub const MAX_ID_TOKEN_BYTES: usize = 64 * 1024;
/// The most keys a JWKS may hold.
const MAX_KEYS: usize = 50;
/// The smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_BYTES: usize = 256;
/// How long after it was issued an ID token is still taken (it is used at once).
const MAX_AGE_SECS: i64 = 10 * 60;

/// The algorithms an ID token may be signed with. Never `none`, never HMAC (whose key
/// would be the client secret, or a public key misused as one).
const ALLOWED: &[(&str, Algorithm)] = &[
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
    ("EdDSA", Algorithm::EdDSA),
];

/// The provider's signing keys that Roster can use.
#[derive(Debug, Clone, Default)]
pub struct Jwks {
    keys: Vec<Jwk>,
}

impl Jwks {
    /// Reads a JWKS document. Keys for encryption only, of a type Roster does not use,
    /// or RSA keys under 2048 bits are left out; a document with none left is refused.
    pub fn parse(body: &[u8]) -> Result<Self, OidcError> {
        if body.len() > crate::provider::MAX_DOCUMENT_BYTES {
            return Err(OidcError::Jwks("larger than 256 KiB".into()));
        }
        let raw: Value = serde_json::from_slice(body).map_err(|_| OidcError::Jwks("not JSON".into()))?;
        let entries = raw
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| OidcError::Jwks("no `keys` array".into()))?;
        if entries.len() > MAX_KEYS {
            return Err(OidcError::Jwks(format!("more than {MAX_KEYS} keys")));
        }
        let mut keys = Vec::new();
        let mut weak = 0;
        for entry in entries {
            // One key of an unknown type must not make the whole set unreadable.
            let Ok(set) = serde_json::from_value::<JwkSet>(serde_json::json!({ "keys": [entry] })) else {
                continue;
            };
            for k in set.keys {
                // Signing keys only: `use` absent or `sig`.
                if matches!(
                    k.common.public_key_use,
                    Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
                ) {
                    continue;
                }
                match &k.algorithm {
                    AlgorithmParameters::RSA(p) => {
                        let n = b64url_decode(&p.n).unwrap_or_default();
                        let bytes = n.iter().skip_while(|b| **b == 0).count();
                        if bytes < MIN_RSA_BYTES {
                            weak += 1;
                            continue;
                        }
                    }
                    AlgorithmParameters::EllipticCurve(p)
                        if matches!(p.curve, EllipticCurve::P256 | EllipticCurve::P384) => {}
                    AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {}
                    _ => continue,
                }
                keys.push(k);
            }
        }
        if keys.is_empty() {
            let why = if weak > 0 {
                format!("no usable signing key ({weak} RSA keys under 2048 bits refused)")
            } else {
                "no usable signing key (RSA ≥ 2048 bits, EC P-256/P-384 or Ed25519)".into()
            };
            return Err(OidcError::Jwks(why));
        }
        Ok(Self { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys that may have signed with `alg`, by `kid` when the token names one.
    fn candidates(&self, alg: Algorithm, kid: Option<&str>) -> Result<Vec<&Jwk>, OidcError> {
        let fits = |k: &&Jwk| {
            let family = match (&k.algorithm, alg) {
                (
                    AlgorithmParameters::RSA(_),
                    Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 | Algorithm::PS256,
                ) => true,
                (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => p.curve == EllipticCurve::P256,
                (AlgorithmParameters::EllipticCurve(p), Algorithm::ES384) => p.curve == EllipticCurve::P384,
                (AlgorithmParameters::OctetKeyPair(_), Algorithm::EdDSA) => true,
                _ => false,
            };
            // A key that names its algorithm is used with that one only.
            let named = match k.common.key_algorithm {
                None => true,
                Some(a) => key_algorithm_is(a, alg),
            };
            family && named
        };
        match kid {
            Some(kid) => {
                let by_kid: Vec<&Jwk> = self
                    .keys
                    .iter()
                    .filter(|k| k.common.key_id.as_deref() == Some(kid))
                    .collect();
                if by_kid.is_empty() {
                    return Err(OidcError::UnknownKey(kid.to_string()));
                }
                let usable: Vec<&Jwk> = by_kid.into_iter().filter(fits).collect();
                if usable.is_empty() {
                    return Err(OidcError::IdToken(format!("key '{kid}' is not a key for {alg:?}")));
                }
                Ok(usable)
            }
            None => {
                let usable: Vec<&Jwk> = self.keys.iter().filter(fits).collect();
                if usable.is_empty() {
                    return Err(OidcError::IdToken(format!(
                        "the provider's JWKS has no key for {alg:?}"
                    )));
                }
                Ok(usable)
            }
        }
    }
}

fn key_algorithm_is(a: KeyAlgorithm, alg: Algorithm) -> bool {
    matches!(
        (a, alg),
        (KeyAlgorithm::RS256, Algorithm::RS256)
            | (KeyAlgorithm::RS384, Algorithm::RS384)
            | (KeyAlgorithm::RS512, Algorithm::RS512)
            | (KeyAlgorithm::PS256, Algorithm::PS256)
            | (KeyAlgorithm::ES256, Algorithm::ES256)
            | (KeyAlgorithm::ES384, Algorithm::ES384)
            | (KeyAlgorithm::EdDSA, Algorithm::EdDSA)
    )
}

/// What the ID token of one sign-in must say.
pub struct Expectations<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// The nonce sent with this sign-in's authorization request.
    pub nonce: &'a str,
    pub now_secs: i64,
    /// Clock difference tolerated, both ways.
    pub skew_secs: i64,
}

/// Checks `token` against the provider's keys and `exp`, and returns its claims.
///
/// The header first: a JWS (three parts), an allowlisted `alg`, no `crit`. The key comes
/// from `jwks` alone, by `kid` when the header names one; `jwk`, `jku`, `x5u` and `x5c`
/// in the header are never looked at. Then the signature, then every claim rule.
pub fn verify_id_token(token: &str, jwks: &Jwks, exp: &Expectations<'_>) -> Result<Map<String, Value>, OidcError> {
    let claims = verify_signature(token, jwks)?;
    check_claims(&claims, exp)?;
    Ok(claims)
}

/// The claims of `token` once its header and signature check out against `jwks` (as
/// [`verify_id_token`] does), no claim looked at: for a token whose claims the caller
/// checks by other rules (an `id_token_hint`, which may have expired).
pub fn verify_signature(token: &str, jwks: &Jwks) -> Result<Map<String, Value>, OidcError> {
    let bad = |why: &str| OidcError::IdToken(why.to_string());
    if token.len() > MAX_ID_TOKEN_BYTES {
        return Err(bad(&format!("larger than {} KiB", MAX_ID_TOKEN_BYTES / 1024)));
    }
    let parts: Vec<&str> = token.split('.').collect();
    match parts.len() {
        3 => {}
        5 => {
            return Err(bad(
                "it is encrypted (JWE); configure the provider to sign ID tokens without encrypting them",
            ))
        }
        _ => return Err(bad("not a signed JWT (three dot-separated parts)")),
    }
    let header: Map<String, Value> = parts
        .first()
        .and_then(|h| b64url_decode(h))
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or_else(|| bad("the header is not base64url JSON"))?;
    let alg_name = header.get("alg").and_then(Value::as_str).unwrap_or_default();
    let Some(&(_, alg)) = ALLOWED.iter().find(|(name, _)| *name == alg_name) else {
        return Err(bad(&format!(
            "signed with '{alg_name}', which is not accepted (RS256/384/512, PS256, ES256/384, EdDSA)"
        )));
    };
    if header.contains_key("crit") {
        return Err(bad(
            "the header has critical extensions (crit), which Roster does not understand",
        ));
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.as_str()),
        Some(_) => return Err(bad("the header's kid is not a string")),
    };

    let mut validation = Validation::new(alg);
    // The claims are checked below, each with its own error.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let mut last = None;
    let mut claims = None;
    for key in jwks.candidates(alg, kid)? {
        let decoding = DecodingKey::from_jwk(key).map_err(|e| OidcError::Jwks(format!("a key does not read: {e}")))?;
        match jsonwebtoken::decode::<Map<String, Value>>(token, &decoding, &validation) {
            Ok(data) => {
                claims = Some(data.claims);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(claims) = claims else {
        let why = match last.as_ref().map(jsonwebtoken::errors::Error::kind) {
            Some(jsonwebtoken::errors::ErrorKind::InvalidSignature) | None => {
                "the signature does not verify with the provider's key".to_string()
            }
            Some(other) => format!("it does not read: {other:?}"),
        };
        return Err(OidcError::IdToken(why));
    };
    Ok(claims)
}

fn claim(claim: &'static str, why: impl Into<String>) -> OidcError {
    OidcError::Claim { claim, why: why.into() }
}

/// A NumericDate claim (seconds), required or not.
fn seconds(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, OidcError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| claim(name, "is not a number of seconds")),
    }
}

fn check_claims(c: &Map<String, Value>, exp: &Expectations<'_>) -> Result<(), OidcError> {
    let iss = c
        .get("iss")
        .and_then(Value::as_str)
        .ok_or_else(|| claim("iss", "is missing"))?;
    if iss != exp.issuer {
        return Err(claim(
            "iss",
            format!("is '{iss}', not the configured issuer '{}'", exp.issuer),
        ));
    }
    let audiences: Vec<&str> = match c.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a
            .iter()
            .map(Value::as_str)
            .collect::<Option<_>>()
            .ok_or_else(|| claim("aud", "holds something other than strings"))?,
        _ => return Err(claim("aud", "is missing")),
    };
    if !audiences.contains(&exp.client_id) {
        return Err(claim(
            "aud",
            format!("does not include this client ('{}')", exp.client_id),
        ));
    }
    // Core §3.1.3.7 (3): audiences the client does not trust are refused; Roster trusts
    // only itself.
    if let Some(other) = audiences.iter().find(|a| **a != exp.client_id) {
        return Err(claim(
            "aud",
            format!("also names '{other}', which this client does not trust"),
        ));
    }
    if let Some(azp) = c.get("azp").and_then(Value::as_str) {
        if azp != exp.client_id {
            return Err(claim("azp", format!("is '{azp}', not this client")));
        }
    }
    let now = exp.now_secs;
    let skew = exp.skew_secs;
    let expires = seconds(c, "exp")?.ok_or_else(|| claim("exp", "is missing"))?;
    if now - skew >= expires {
        return Err(claim("exp", "the token has expired"));
    }
    let issued = seconds(c, "iat")?.ok_or_else(|| claim("iat", "is missing"))?;
    if issued > now + skew {
        return Err(claim("iat", "the token was issued in the future (check the clocks)"));
    }
    if issued < now - skew - MAX_AGE_SECS {
        return Err(claim("iat", "the token was issued too long ago"));
    }
    if let Some(nbf) = seconds(c, "nbf")? {
        if nbf > now + skew {
            return Err(claim("nbf", "the token is not valid yet"));
        }
    }
    match c.get("nonce").and_then(Value::as_str) {
        Some(n) if n == exp.nonce => {}
        Some(_) => {
            return Err(claim(
                "nonce",
                "does not match this sign-in's (a replayed or injected token)",
            ))
        }
        None => return Err(claim("nonce", "is missing")),
    }
    match c.get("sub").and_then(Value::as_str) {
        Some(s) if !s.is_empty() && s.len() <= 255 => {}
        _ => return Err(claim("sub", "is missing or not 1–255 characters")),
    }
    Ok(())
}

#[cfg(test)]
mod tests;
