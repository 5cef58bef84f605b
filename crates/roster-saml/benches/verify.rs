//! Parse + verify of typical signed responses, signed by xmlsec1: Okta's shape
//! (Response and Assertion both signed, RSA-SHA256, eight attributes: 8.6 KB) and
//! Entra's (Assertion signed: 4.9 KB).
//!
//!   cargo bench -p roster-saml --bench verify

// A benchmark: it stops at the first thing it did not expect.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use criterion::{criterion_group, criterion_main, Criterion};
use roster_saml::keys::TrustedKey;
use roster_saml::{decode_post, verify_response, Limits};
use roster_testidp::{post_field, Idp, Shape, Spec};
use std::hint::black_box;

const ACS: &str = "https://roster.example/sso/saml/c1/acs";
const SP: &str = "https://roster.example/sso/saml/c1/metadata";

fn typical(idp: &Idp, shape: Shape) -> String {
    let spec = Spec::new(shape, ACS, SP, "jane.doe@example.com")
        .attr("firstName", &["Jane"])
        .attr("lastName", &["Doe"])
        .attr("displayName", &["Jane Doe"])
        .attr("dockerOrg", &["acme"])
        .attr("dockerRole", &["member"])
        .attr("dockerSessionMinutes", &["480"])
        .attr("groups", &["acme:engineering", "acme:platform", "Everyone"])
        .attr("department", &["Platform Engineering"])
        .attr("location", &["Berlin, Germany"]);
    idp.response(&spec)
}

fn bench(c: &mut Criterion) {
    let idp = Idp::rsa("http://www.okta.com/exk1bench");
    let xml = typical(&idp, Shape::Okta);
    let entra = typical(&idp, Shape::Entra);
    let field = post_field(&xml);
    let keys = vec![TrustedKey::parse(&idp.certificate_pem).expect("the IdP certificate")];
    let exp = roster_testidp::expectations(&idp.entity_id, &keys, ACS, SP);
    verify_response(&xml, &exp).expect("the fixture verifies");
    verify_response(&entra, &exp).expect("the fixture verifies");
    println!(
        "response: {} bytes of XML, {} bytes as the SAMLResponse field",
        xml.len(),
        field.len()
    );
    println!("Assertion-only signed response: {} bytes of XML", entra.len());

    let mut g = c.benchmark_group("saml");
    g.bench_function("parse+verify, Okta shape (Response and Assertion signed)", |b| {
        b.iter(|| verify_response(black_box(&xml), &exp).expect("verifies"))
    });
    g.bench_function("parse+verify, Entra shape (Assertion signed)", |b| {
        b.iter(|| verify_response(black_box(&entra), &exp).expect("verifies"))
    });
    g.bench_function("base64 decode+parse+verify", |b| {
        b.iter(|| {
            let xml = decode_post(black_box(&field), Limits::default()).expect("decodes");
            verify_response(&xml, &exp).expect("verifies")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
