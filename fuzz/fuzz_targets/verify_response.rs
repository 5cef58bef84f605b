//! Any input to the response parser and verifier ends in a verdict, never a panic, a
//! hang or unbounded memory. Seeds (fuzz/run.sh makes them) are valid responses for
//! the keys and clock stored beside them, so mutations explore past the signature.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_saml::keys::{SpKey, TrustedKey};
use roster_saml::{verify_response, AlgorithmPolicy, Expectations, Limits};
use std::sync::OnceLock;

struct Setup {
    idp: Vec<TrustedKey>,
    sp: Vec<SpKey>,
    now: i64,
}

fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let dir = std::env::var("ROSTER_FUZZ_SEEDS").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/seeds").into());
        let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).expect("run fuzz/run.sh to make the seeds");
        Setup {
            idp: vec![TrustedKey::parse(&read("idp-cert.pem")).expect("the IdP certificate")],
            sp: vec![SpKey::from_pem(&read("sp-key.pem")).expect("the SP key")],
            now: read("now").trim().parse().expect("the seed clock"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else { return };
    let s = setup();
    let exp = Expectations {
        sp_entity_id: "https://roster.example/sso/saml/c1/metadata",
        acs_url: "https://roster.example/sso/saml/c1/acs",
        idp_entity_id: "https://idp.example/fuzz",
        idp_keys: &s.idp,
        policy: AlgorithmPolicy { allow_sha1: true },
        allow_cbc: true,
        sp_keys: &s.sp,
        clock_skew_ms: 120_000,
        now_ms: s.now,
        limits: Limits::default(),
    };
    let _ = verify_response(xml, &exp);
});
