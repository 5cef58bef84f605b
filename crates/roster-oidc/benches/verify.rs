//! ID token verification against a JWKS of three keys, for a typical token (Entra-like
//! claims with a dozen groups, about 1.2 KB) signed RS256 (2048-bit), ES256 and EdDSA;
//! and the signing of such a token with Roster's own keys (its OpenID Provider).
//!
//!   cargo bench -p roster-oidc --bench verify

// A benchmark: it stops at the first thing it did not expect.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, KeyPair};
use base64::Engine;
use criterion::{criterion_group, criterion_main, Criterion};
use roster_oidc::{signing, verify_id_token, Expectations, Jwks};
use serde_json::{json, Value};
use std::hint::black_box;

const NOW: i64 = 1_800_000_000;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn token(alg: &str, kid: &str, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64(json!({"alg": alg, "kid": kid, "typ": "JWT"}).to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    format!("{input}.{}", b64(&sign(input.as_bytes())))
}

fn bench(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let rsa = sig::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let ec = sig::EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let ed = sig::Ed25519KeyPair::generate().unwrap();
    let rsa_pub = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(rsa.public_key());
    let point = ec.public_key().as_ref();
    let (x, y) = point[1..].split_at(32);
    let jwks = Jwks::parse(
        json!({"keys": [
            {"kty": "RSA", "kid": "rsa", "use": "sig", "n": b64(&rsa_pub.n), "e": b64(&rsa_pub.e)},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": b64(x), "y": b64(y)},
            {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64(ed.public_key().as_ref())},
        ]})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let groups: Vec<String> = (0..12).map(|i| format!("acme:team-{i}")).collect();
    let claims = json!({
        "iss": "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
        "aud": "6731de76-14a6-49ae-97bc-6eba6914391e", "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
        "exp": NOW + 3600, "iat": NOW - 5, "nbf": NOW - 5, "nonce": "n-0123456789abcdef",
        "email": "jane.doe@acme.example", "name": "Jane Doe", "preferred_username": "jane.doe@acme.example",
        "oid": "00000000-0000-0000-66f3-3332eca7ea81", "tid": "9188040d-6c67-4c5b-b112-36a304b66dad",
        "groups": groups, "ver": "2.0"
    });
    let expect = Expectations {
        issuer: "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
        client_id: "6731de76-14a6-49ae-97bc-6eba6914391e",
        nonce: "n-0123456789abcdef",
        now_secs: NOW,
        skew_secs: 120,
    };
    let tokens = [
        (
            "RS256 (2048-bit)",
            token("RS256", "rsa", &claims, |m| {
                let mut out = vec![0; rsa.public_modulus_len()];
                rsa.sign(&sig::RSA_PKCS1_SHA256, &rng, m, &mut out).unwrap();
                out
            }),
        ),
        (
            "ES256",
            token("ES256", "ec", &claims, |m| ec.sign(&rng, m).unwrap().as_ref().to_vec()),
        ),
        ("EdDSA", token("EdDSA", "ed", &claims, |m| ed.sign(m).as_ref().to_vec())),
    ];
    println!("ID token: {} bytes (RS256)", tokens[0].1.len());
    let mut g = c.benchmark_group("oidc");
    for (name, t) in &tokens {
        verify_id_token(t, &jwks, &expect).expect("the fixture verifies");
        g.bench_function(format!("verify ID token, {name}"), |b| {
            b.iter(|| verify_id_token(black_box(t), &jwks, &expect).expect("verifies"))
        });
    }
    for alg in signing::Alg::ALL {
        let key = signing::generate(alg, "k").expect("a key");
        g.bench_function(format!("sign ID token, {}", alg.as_str()), |b| {
            b.iter(|| signing::sign(alg, "k", "JWT", &key.private_pkcs8, black_box(&claims)).expect("signs"))
        });
        // As the server signs: the key read once and kept.
        let signer = signing::Signer::from_pkcs8(alg, "k", &key.private_pkcs8).expect("reads");
        g.bench_function(format!("sign ID token with a kept key, {}", alg.as_str()), |b| {
            b.iter(|| signer.sign("JWT", black_box(&claims)).expect("signs"))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
