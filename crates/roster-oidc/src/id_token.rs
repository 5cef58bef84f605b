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
    check_claims(&claims, exp)?;
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
mod tests {
    //! Each rule with a token made here and signed by keys made here: a wrong token for
    //! every rule is refused for that rule's reason, and the right one passes.

    use super::*;
    use crate::b64url;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{self as sig, KeyPair};
    use serde_json::json;

    const ISS: &str = "https://idp.example";
    const CLIENT: &str = "roster-client";
    const NOW: i64 = 1_800_000_000;

    enum Signer {
        Rsa(sig::RsaKeyPair, &'static dyn sig::RsaEncoding, &'static str),
        Ec(sig::EcdsaKeyPair, &'static str),
        Ed(sig::Ed25519KeyPair),
    }

    impl Signer {
        fn rsa(bits: aws_lc_rs::rsa::KeySize, pss: bool) -> Self {
            let key = sig::RsaKeyPair::generate(bits).unwrap();
            if pss {
                Self::Rsa(key, &sig::RSA_PSS_SHA256, "PS256")
            } else {
                Self::Rsa(key, &sig::RSA_PKCS1_SHA256, "RS256")
            }
        }
        fn es256() -> Self {
            Self::Ec(
                sig::EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap(),
                "P-256",
            )
        }
        fn ed() -> Self {
            Self::Ed(sig::Ed25519KeyPair::generate().unwrap())
        }
        fn jwk(&self, kid: &str) -> Value {
            match self {
                Self::Rsa(k, ..) => {
                    let c = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(k.public_key());
                    json!({"kty": "RSA", "kid": kid, "use": "sig", "n": b64url(&c.n), "e": b64url(&c.e)})
                }
                Self::Ec(k, crv) => {
                    let p = k.public_key().as_ref();
                    let (x, y) = p[1..].split_at((p.len() - 1) / 2);
                    json!({"kty": "EC", "kid": kid, "crv": crv, "x": b64url(x), "y": b64url(y)})
                }
                Self::Ed(k) => {
                    json!({"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64url(k.public_key().as_ref())})
                }
            }
        }
        fn alg(&self) -> &'static str {
            match self {
                Self::Rsa(_, _, alg) => alg,
                Self::Ec(..) => "ES256",
                Self::Ed(_) => "EdDSA",
            }
        }
        fn sign(&self, input: &[u8]) -> Vec<u8> {
            let rng = SystemRandom::new();
            match self {
                Self::Rsa(k, pad, _) => {
                    let mut out = vec![0; k.public_modulus_len()];
                    k.sign(*pad, &rng, input, &mut out).unwrap();
                    out
                }
                Self::Ec(k, _) => k.sign(&rng, input).unwrap().as_ref().to_vec(),
                Self::Ed(k) => k.sign(input).as_ref().to_vec(),
            }
        }
        /// A token with `header` (alg and kid filled in unless given) and `claims`.
        fn token(&self, kid: &str, header: Value, claims: &Value) -> String {
            let mut h = json!({"alg": self.alg(), "kid": kid, "typ": "JWT"});
            for (k, v) in header.as_object().unwrap() {
                if v.is_null() {
                    h.as_object_mut().unwrap().remove(k);
                } else {
                    h[k] = v.clone();
                }
            }
            let input = format!(
                "{}.{}",
                b64url(h.to_string().as_bytes()),
                b64url(claims.to_string().as_bytes())
            );
            format!("{input}.{}", b64url(&self.sign(input.as_bytes())))
        }
    }

    fn jwks(keys: &[Value]) -> Jwks {
        Jwks::parse(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
    }

    fn claims() -> Value {
        json!({"iss": ISS, "aud": CLIENT, "sub": "u1", "exp": NOW + 300, "iat": NOW - 5, "nonce": "n-1",
               "email": "jo@acme.example"})
    }

    fn expect() -> Expectations<'static> {
        Expectations {
            issuer: ISS,
            client_id: CLIENT,
            nonce: "n-1",
            now_secs: NOW,
            skew_secs: 120,
        }
    }

    fn rsa() -> &'static Signer {
        static KEY: std::sync::OnceLock<Signer> = std::sync::OnceLock::new();
        KEY.get_or_init(|| Signer::rsa(aws_lc_rs::rsa::KeySize::Rsa2048, false))
    }

    #[test]
    fn every_allowed_algorithm_verifies() {
        for signer in [
            Signer::rsa(aws_lc_rs::rsa::KeySize::Rsa2048, false),
            Signer::rsa(aws_lc_rs::rsa::KeySize::Rsa3072, true),
            Signer::es256(),
            Signer::ed(),
        ] {
            let keys = jwks(&[signer.jwk("k1")]);
            let got = verify_id_token(&signer.token("k1", json!({}), &claims()), &keys, &expect())
                .unwrap_or_else(|e| panic!("{}: {e}", signer.alg()));
            assert_eq!(got["email"], "jo@acme.example");
            // Without a kid, the one key that fits is used.
            let t = signer.token("k1", json!({"kid": null}), &claims());
            assert!(
                verify_id_token(&t, &keys, &expect()).is_ok(),
                "{} without kid",
                signer.alg()
            );
        }
    }

    #[test]
    fn alg_none_and_hmac_with_the_public_key_are_refused() {
        let s = rsa();
        let keys = jwks(&[s.jwk("k1")]);
        let body = b64url(claims().to_string().as_bytes());
        let none = format!("{}.{body}.", b64url(br#"{"alg":"none"}"#));
        let err = verify_id_token(&none, &keys, &expect()).unwrap_err();
        assert!(err.to_string().contains("'none'"), "{err}");
        // HS256 keyed with the RSA public key's bytes (the classic confusion).
        let input = format!("{}.{body}", b64url(br#"{"alg":"HS256","kid":"k1"}"#));
        let n = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(match s {
            Signer::Rsa(k, ..) => k.public_key(),
            _ => unreachable!(),
        })
        .n;
        let mac = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &n),
            input.as_bytes(),
        );
        let hs = format!("{input}.{}", b64url(mac.as_ref()));
        let err = verify_id_token(&hs, &keys, &expect()).unwrap_err();
        assert!(err.to_string().contains("'HS256'"), "{err}");
    }

    #[test]
    fn a_key_in_the_token_header_is_never_used() {
        let provider = rsa();
        let attacker = Signer::es256();
        let keys = jwks(&[provider.jwk("k1")]);
        // Signed by the attacker, who puts their key in the header under the known kid,
        // and under a kid of their own.
        for (kid, header) in [
            ("k1", json!({"jwk": attacker.jwk("k1")})),
            ("evil", json!({"jwk": attacker.jwk("evil")})),
            ("evil", json!({"jku": "https://evil.example/jwks"})),
            ("k1", json!({"x5c": ["MIIB"], "x5u": "https://evil.example/c.pem"})),
        ] {
            let t = attacker.token(kid, header, &claims());
            assert!(verify_id_token(&t, &keys, &expect()).is_err(), "{kid}");
        }
    }

    #[test]
    fn weak_rsa_keys_are_left_out_of_the_jwks() {
        let weak = Signer::rsa(aws_lc_rs::rsa::KeySize::Rsa2048, false);
        let mut jwk = weak.jwk("small");
        // A 1024-bit modulus (the first half of a real one: the size is what is judged).
        let n = b64url_decode(jwk["n"].as_str().unwrap()).unwrap();
        jwk["n"] = b64url(&n[..128]).into();
        let err = Jwks::parse(json!({"keys": [jwk]}).to_string().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("under 2048 bits"), "{err}");
        let keys = jwks(&[jwk, rsa().jwk("k1")]);
        assert_eq!(keys.len(), 1);
        let t = weak.token("small", json!({}), &claims());
        assert_eq!(
            verify_id_token(&t, &keys, &expect()).unwrap_err(),
            OidcError::UnknownKey("small".into())
        );
    }

    #[test]
    fn an_unknown_kid_says_so_so_the_jwks_can_be_fetched_again() {
        let keys = jwks(&[rsa().jwk("old")]);
        let t = rsa().token("new", json!({}), &claims());
        assert_eq!(
            verify_id_token(&t, &keys, &expect()).unwrap_err(),
            OidcError::UnknownKey("new".into())
        );
    }

    #[test]
    fn crit_headers_and_other_algorithms_are_refused() {
        let keys = jwks(&[rsa().jwk("k1")]);
        let t = rsa().token("k1", json!({"crit": ["b64"], "b64": false}), &claims());
        assert!(verify_id_token(&t, &keys, &expect())
            .unwrap_err()
            .to_string()
            .contains("crit"));
        // RS256 signature, header claiming RS512: the signature does not verify.
        let t = rsa().token("k1", json!({"alg": "RS512"}), &claims());
        assert!(verify_id_token(&t, &keys, &expect()).is_err());
        // An ES256 token naming the RSA key's kid.
        let ec = Signer::es256();
        let t = ec.token("k1", json!({}), &claims());
        assert!(verify_id_token(&t, &keys, &expect()).is_err());
    }

    #[test]
    fn a_tampered_payload_or_garbage_is_refused() {
        let keys = jwks(&[rsa().jwk("k1")]);
        let t = rsa().token("k1", json!({}), &claims());
        let parts: Vec<&str> = t.split('.').collect();
        let mut evil = claims();
        evil["email"] = "ceo@acme.example".into();
        let forged = format!("{}.{}.{}", parts[0], b64url(evil.to_string().as_bytes()), parts[2]);
        assert!(verify_id_token(&forged, &keys, &expect()).is_err());
        for garbage in [
            "",
            "abc",
            "a.b.c",
            "a.b.c.d.e",
            "....",
            &"x".repeat(MAX_ID_TOKEN_BYTES + 1),
        ] {
            assert!(verify_id_token(garbage, &keys, &expect()).is_err(), "{garbage:.20}");
        }
    }

    /// `claims()` changed by `f` is refused for `rule`.
    fn refused_for(rule: &str, f: impl FnOnce(&mut Value)) {
        let keys = jwks(&[rsa().jwk("k1")]);
        let mut c = claims();
        f(&mut c);
        let err = verify_id_token(&rsa().token("k1", json!({}), &c), &keys, &expect()).unwrap_err();
        assert!(
            matches!(&err, OidcError::Claim { claim, .. } if *claim == rule),
            "expected {rule}, got {err}"
        );
    }

    #[test]
    fn each_claim_rule_refuses_its_own_breach() {
        refused_for("iss", |c| c["iss"] = "https://idp.example/".into());
        refused_for("iss", |c| {
            c.as_object_mut().unwrap().remove("iss");
        });
        refused_for("aud", |c| c["aud"] = "another-client".into());
        refused_for("aud", |c| c["aud"] = json!(["a", "b"]));
        refused_for("aud", |c| c["aud"] = json!([CLIENT, "other"]));
        refused_for("aud", |c| {
            c["aud"] = json!([CLIENT, "other"]);
            c["azp"] = CLIENT.into();
        });
        refused_for("aud", |c| c["aud"] = json!([CLIENT, 1]));
        refused_for("azp", |c| c["azp"] = "other".into());
        refused_for("exp", |c| c["exp"] = json!(NOW - 121));
        refused_for("exp", |c| {
            c.as_object_mut().unwrap().remove("exp");
        });
        refused_for("exp", |c| c["exp"] = "tomorrow".into());
        refused_for("iat", |c| {
            c.as_object_mut().unwrap().remove("iat");
        });
        refused_for("iat", |c| c["iat"] = json!(NOW + 121));
        refused_for("iat", |c| c["iat"] = json!(NOW - 3600));
        refused_for("nbf", |c| c["nbf"] = json!(NOW + 121));
        refused_for("nonce", |c| c["nonce"] = "n-2".into());
        refused_for("nonce", |c| {
            c.as_object_mut().unwrap().remove("nonce");
        });
        refused_for("sub", |c| c["sub"] = "".into());
        refused_for("sub", |c| {
            c.as_object_mut().unwrap().remove("sub");
        });
    }

    #[test]
    fn skew_is_tolerated_both_ways() {
        let keys = jwks(&[rsa().jwk("k1")]);
        let mut c = claims();
        c["exp"] = json!(NOW - 100);
        c["iat"] = json!(NOW - 200);
        c["nbf"] = json!(NOW + 100);
        c["aud"] = json!([CLIENT]);
        c["azp"] = CLIENT.into();
        assert!(verify_id_token(&rsa().token("k1", json!({}), &c), &keys, &expect()).is_ok());
    }
}
