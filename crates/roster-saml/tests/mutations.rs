//! Random mutations of a valid signed response: the verifier returns an error or the
//! unchanged identity — never a panic, never another identity.

// Test code: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use proptest::prelude::*;
use roster_saml::keys::TrustedKey;
use roster_saml::verify_response;
use roster_testidp::{Idp, Shape, Signing, Spec};
use std::sync::OnceLock;

const ACS: &str = "https://roster.example/sso/saml/c1/acs";
const SP: &str = "https://roster.example/sso/saml/c1/metadata";

struct Fixture {
    xml: String,
    key: TrustedKey,
    issuer: String,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let idp = Idp::rsa("https://idp.example/app");
        let spec = Spec::new(Shape::Okta, ACS, SP, "ann@acme.test")
            .signing(Signing::Both)
            .attr("groups", &["acme:dev"]);
        Fixture {
            xml: idp.response(&spec),
            key: TrustedKey::parse(&idp.certificate_pem).unwrap(),
            issuer: idp.entity_id.clone(),
        }
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Replace(usize, u8),
    Duplicate(usize, usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..64).prop_map(|(p, n)| Mutation::Delete(p, n)),
        (
            any::<usize>(),
            prop::collection::vec(
                prop_oneof![Just(b'<'), Just(b'>'), Just(b'"'), Just(b'&'), any::<u8>()],
                1..8
            )
        )
            .prop_map(|(p, b)| Mutation::Insert(p, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Replace(p, b)),
        (any::<usize>(), 1usize..400, any::<usize>()).prop_map(|(p, n, to)| Mutation::Duplicate(p, n, to)),
    ]
}

fn apply(src: &[u8], muts: &[Mutation]) -> Vec<u8> {
    let mut b = src.to_vec();
    for m in muts {
        let len = b.len().max(1);
        match m {
            Mutation::Delete(p, n) => {
                let s = p % len;
                let e = (s + n).min(b.len());
                b.drain(s.min(b.len())..e);
            }
            Mutation::Insert(p, bytes) => {
                let s = (p % len).min(b.len());
                b.splice(s..s, bytes.iter().copied());
            }
            Mutation::Replace(p, v) => {
                if !b.is_empty() {
                    let i = p % b.len();
                    b[i] = *v;
                }
            }
            Mutation::Duplicate(p, n, to) => {
                let s = (p % len).min(b.len());
                let e = (s + n).min(b.len());
                let chunk: Vec<u8> = b[s..e].to_vec();
                let at = (to % len).min(b.len());
                b.splice(at..at, chunk);
            }
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]
    #[test]
    fn mutated_responses_never_panic_or_change_identity(muts in prop::collection::vec(mutation(), 1..4)) {
        let f = fixture();
        let mutated = apply(f.xml.as_bytes(), &muts);
        let text = String::from_utf8_lossy(&mutated);
        let keys = [f.key.clone()];
        let exp = roster_testidp::expectations(&f.issuer, &keys, ACS, SP);
        if let Ok(v) = verify_response(&text, &exp) {
            // Only changes the signatures do not cover (whitespace between elements,
            // the XML declaration, KeyInfo, ...) may pass, and they change nothing read.
            prop_assert_eq!(v.name_id.as_deref(), Some("ann@acme.test"));
            prop_assert_eq!(&v.attributes["email"], &vec!["ann@acme.test".to_string()]);
            prop_assert_eq!(&v.attributes["groups"], &vec!["acme:dev".to_string()]);
        }
    }
}
