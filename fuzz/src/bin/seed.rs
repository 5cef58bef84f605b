//! Writes the fuzzing seeds: an IdP and an SP key, the clock they were made at, and
//! valid responses in every shape (signed each way, encrypted), signed by xmlsec1 and
//! signxml through the test IdP. The fuzz target verifies against exactly these keys,
//! so mutations start from responses that pass.
//!
//!   cargo run --manifest-path fuzz/Cargo.toml --bin seed -- fuzz/seeds

use roster_saml::keys::generate_sp_key;
use roster_testidp::{Idp, Shape, Signing, Spec};
use std::path::PathBuf;

const ACS: &str = "https://roster.example/sso/saml/c1/acs";
const SP: &str = "https://roster.example/sso/saml/c1/metadata";
const IDP: &str = "https://idp.example/fuzz";

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/seeds".into()));
    let corpus = out.join("corpus");
    std::fs::create_dir_all(&corpus).expect("create the seed directory");
    let now = roster_testidp::now_ms();
    let idp = Idp::rsa(IDP);
    let sp = generate_sp_key(SP, now, 365).expect("an SP key");
    std::fs::write(out.join("idp-cert.pem"), &idp.certificate_pem).expect("write");
    std::fs::write(out.join("sp-key.pem"), &sp.private_key_pem).expect("write");
    std::fs::write(out.join("now"), now.to_string()).expect("write");
    let mut n = 0;
    let mut write = |xml: String| {
        n += 1;
        std::fs::write(corpus.join(format!("seed-{n:02}.xml")), xml).expect("write");
    };
    for shape in [Shape::Okta, Shape::Entra, Shape::Google, Shape::Adfs] {
        let base = Spec::new(shape, ACS, SP, "jane.doe@example.com")
            .at(now)
            .attr("groups", &["acme:engineering", "Everyone"])
            .attr("dockerRole", &["member"]);
        write(idp.response(&base));
        for signing in [Signing::Assertion, Signing::Response, Signing::Both] {
            write(idp.response(&base.clone().signing(signing)));
        }
        write(idp.encrypted_response(&base, &sp.certificate_pem, "http://www.w3.org/2009/xmlenc11#aes128-gcm"));
    }
    println!("{n} seeds in {}", corpus.display());
}
