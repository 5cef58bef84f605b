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
