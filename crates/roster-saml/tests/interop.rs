//! The verifier against responses signed and encrypted by third-party software
//! (xmlsec1, signxml), in the shapes real IdPs send; canonical bytes and verdicts
//! cross-checked against xmlsec1 on every fixture.

// Test code: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use roster_saml::dsig::{self, NS_DSIG};
use roster_saml::keys::{generate_sp_key, SpKey, TrustedKey};
use roster_saml::xml::Document;
use roster_saml::{verify_response, AlgorithmPolicy, Expectations, Limits, SamlError, VerifiedAssertion, NS_ASSERTION};
use roster_testidp::{Idp, Shape, Signing, Spec};
use std::process::Command;

const ACS: &str = "https://roster.example/sso/saml/c1/acs";
const SP: &str = "https://roster.example/sso/saml/c1/metadata";
const SHAPES: [Shape; 4] = [Shape::Okta, Shape::Entra, Shape::Google, Shape::Adfs];

struct Opts {
    allow_sha1: bool,
    allow_cbc: bool,
}

fn check_with(idp: &Idp, xml: &str, sp_keys: &[SpKey], o: Opts) -> Result<VerifiedAssertion, SamlError> {
    let keys = vec![TrustedKey::parse(&idp.certificate_pem).unwrap()];
    let exp = Expectations {
        policy: AlgorithmPolicy {
            allow_sha1: o.allow_sha1,
        },
        allow_cbc: o.allow_cbc,
        sp_keys,
        ..roster_testidp::expectations(&idp.entity_id, &keys, ACS, SP)
    };
    verify_response(xml, &exp)
}

fn check(idp: &Idp, xml: &str) -> Result<VerifiedAssertion, SamlError> {
    check_with(
        idp,
        xml,
        &[],
        Opts {
            allow_sha1: false,
            allow_cbc: false,
        },
    )
}

fn email_of(v: &VerifiedAssertion) -> String {
    for name in [
        "email",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    ] {
        if let Some(vals) = v.attributes.get(name) {
            return vals[0].clone();
        }
    }
    v.name_id.clone().unwrap()
}

#[test]
fn every_shape_and_signing_verifies() {
    let idp = Idp::rsa("https://idp.example/app");
    for shape in SHAPES {
        for signing in [Signing::Response, Signing::Assertion, Signing::Both] {
            let spec = Spec::new(shape, ACS, SP, "ann@acme.test")
                .signing(signing)
                .attr("groups", &["acme:dev", "acme:ops"]);
            let xml = idp.response(&spec);
            let v = check(&idp, &xml).unwrap_or_else(|e| panic!("{shape:?}/{signing:?}: {e}\n{xml}"));
            assert_eq!(email_of(&v), "ann@acme.test", "{shape:?}/{signing:?}");
            assert_eq!(v.attributes["groups"], vec!["acme:dev", "acme:ops"]);
            assert_eq!(v.assertion_id, spec.assertion_id);
            assert_eq!(
                v.signed.response,
                signing != Signing::Assertion,
                "{shape:?}/{signing:?}"
            );
            assert_eq!(
                v.signed.assertion,
                signing != Signing::Response,
                "{shape:?}/{signing:?}"
            );
        }
    }
}

/// xmlsec1's view of one signature: verdict, digested bytes, signed bytes.
fn xmlsec1_verify(idp: &Idp, xml: &str, xpath: &str) -> (bool, Option<String>, Option<String>) {
    let file = idp.dir.join(format!("{}-verify.xml", uuid_like()));
    std::fs::write(&file, xml).unwrap();
    let out = Command::new("xmlsec1")
        .args([
            "--verify",
            "--store-references",
            "--store-signatures",
            "--enabled-key-data",
            "key-name,rsa,ecdsa",
        ])
        .arg("--pubkey-cert-pem")
        .arg(idp.cert_path())
        .args(["--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"])
        .args(["--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:Response"])
        .args(["--node-xpath", xpath])
        .arg(&file)
        .output()
        .expect("xmlsec1 is not installed: run scripts/deps.sh");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let between = |start: &str, end: &str| -> Option<String> {
        let s = stdout.find(start)? + start.len();
        let e = s + stdout[s..].find(end)?;
        Some(stdout[s..e].strip_suffix('\n').unwrap_or(&stdout[s..e]).to_string())
    };
    (
        out.status.success(),
        between("== PreDigest data - start buffer:\n", "== PreDigest data - end buffer"),
        between("== PreSigned data - start buffer:\n", "== PreSigned data - end buffer"),
    )
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

#[test]
fn canonical_bytes_and_verdicts_agree_with_xmlsec1() {
    let idp = Idp::rsa("https://idp.example/app");
    let mut compared = 0;
    for shape in SHAPES {
        let spec = Spec::new(shape, ACS, SP, "ann@acme.test")
            .signing(Signing::Both)
            .attr("name", &["Ann <Ünïcode> & \"quotes\"\tTab"]);
        let good = idp.response(&spec);
        let tampered = good.replacen("ann@acme.test<", "eve@acme.test<", 1);
        for (xml, valid) in [(good.as_str(), true), (tampered.as_str(), false)] {
            let doc = Document::parse(xml, Limits::default()).unwrap();
            let response = doc.root;
            let assertion = doc.children_named(response, NS_ASSERTION, "Assertion").next().unwrap();
            for (target, xpath) in [
                (response, "/*[local-name()='Response']/*[local-name()='Signature']"),
                (
                    assertion,
                    "/*[local-name()='Response']/*[local-name()='Assertion']/*[local-name()='Signature']",
                ),
            ] {
                let sig = doc.children_named(target, NS_DSIG, "Signature").next().unwrap();
                let (predigest, presigned) = dsig::canonical_forms(&doc, target, sig).unwrap();
                let ours = dsig::verify(
                    &doc,
                    target,
                    sig,
                    &[TrustedKey::parse(&idp.certificate_pem).unwrap()],
                    AlgorithmPolicy::default(),
                );
                let (theirs, their_predigest, their_presigned) = xmlsec1_verify(&idp, xml, xpath);
                // The tampered text is inside the assertion, so both signatures break.
                assert_eq!(ours.is_ok(), valid, "{shape:?}: ours {ours:?}");
                assert_eq!(theirs, valid, "{shape:?}: xmlsec1 disagrees");
                if let Some(p) = their_predigest {
                    assert_eq!(
                        String::from_utf8(predigest).unwrap(),
                        p,
                        "{shape:?}: digested bytes differ"
                    );
                    compared += 1;
                }
                if let Some(p) = their_presigned {
                    assert_eq!(
                        String::from_utf8(presigned).unwrap(),
                        p,
                        "{shape:?}: signed bytes differ"
                    );
                }
            }
        }
    }
    assert!(compared >= 8, "xmlsec1 printed too few canonical forms ({compared})");
}

#[test]
fn ecdsa_and_stronger_hashes_verify() {
    let idp = Idp::ec("https://idp.example/ec");
    let mut spec = Spec::new(Shape::Okta, ACS, SP, "ann@acme.test");
    spec.signature_algorithm = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256".into();
    check(&idp, &idp.response(&spec)).unwrap();

    let rsa = Idp::rsa("https://idp.example/rsa");
    let mut spec = Spec::new(Shape::Entra, ACS, SP, "ann@acme.test");
    spec.signature_algorithm = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512".into();
    spec.digest_algorithm = "http://www.w3.org/2001/04/xmlenc#sha512".into();
    check(&rsa, &rsa.response(&spec)).unwrap();
}

#[test]
fn sha1_only_when_the_connection_opts_in() {
    let idp = Idp::rsa("https://idp.example/old");
    let mut spec = Spec::new(Shape::Entra, ACS, SP, "ann@acme.test");
    spec.signature_algorithm = "http://www.w3.org/2000/09/xmldsig#rsa-sha1".into();
    spec.digest_algorithm = "http://www.w3.org/2000/09/xmldsig#sha1".into();
    let xml = idp.response(&spec);
    assert!(matches!(check(&idp, &xml), Err(SamlError::WeakAlgorithm(_))));
    check_with(
        &idp,
        &xml,
        &[],
        Opts {
            allow_sha1: true,
            allow_cbc: false,
        },
    )
    .unwrap();
}

#[test]
fn encrypted_assertions_decrypt_with_the_sp_key() {
    let idp = Idp::rsa("https://idp.example/enc");
    let sp = generate_sp_key(SP, roster_testidp::now_ms(), 30).unwrap();
    let other = generate_sp_key(SP, roster_testidp::now_ms(), 30).unwrap();
    let keys = vec![
        SpKey::from_pem(&other.private_key_pem).unwrap(),
        SpKey::from_pem(&sp.private_key_pem).unwrap(),
    ];
    for shape in SHAPES {
        for alg in [
            "http://www.w3.org/2009/xmlenc11#aes128-gcm",
            "http://www.w3.org/2009/xmlenc11#aes256-gcm",
        ] {
            let spec = Spec::new(shape, ACS, SP, "ann@acme.test");
            let xml = idp.encrypted_response(&spec, &sp.certificate_pem, alg);
            assert!(xml.contains("EncryptedAssertion") && !xml.contains("ann@acme.test"));
            // Two SP keys, as during a rotation: the right one is found.
            let v = check_with(
                &idp,
                &xml,
                &keys,
                Opts {
                    allow_sha1: false,
                    allow_cbc: false,
                },
            )
            .unwrap_or_else(|e| panic!("{shape:?} {alg}: {e}"));
            assert!(v.encrypted);
            assert_eq!(email_of(&v), "ann@acme.test");
        }
    }
    // A signed assertion whose prefix is declared only on the Response it is decrypted
    // into: the signature is checked with the inherited declaration.
    let none = Opts {
        allow_sha1: false,
        allow_cbc: false,
    };
    let inherited = Spec::new(Shape::Google, ACS, SP, "ann@acme.test").signing(Signing::Both);
    let xml = idp.encrypted_response(
        &inherited,
        &sp.certificate_pem,
        "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    );
    let v = check_with(&idp, &xml, &keys, none).unwrap();
    assert!(v.signed.assertion && v.encrypted);
    // An EncryptedKey costs an RSA operation per SP key: more than four are refused
    // (before any is tried; the Response is not signed, so nothing is checked first).
    let xml = idp.encrypted_response(
        &Spec::new(Shape::Okta, ACS, SP, "ann@acme.test").signing(Signing::Assertion),
        &sp.certificate_pem,
        "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    );
    check_with(
        &idp,
        &xml,
        &keys,
        Opts {
            allow_sha1: false,
            allow_cbc: false,
        },
    )
    .unwrap();
    let ek_start = xml.find("<xenc:EncryptedKey").unwrap();
    let ek_end = xml.find("</xenc:EncryptedKey>").unwrap() + "</xenc:EncryptedKey>".len();
    let many = format!(
        "{}{}{}",
        &xml[..ek_start],
        xml[ek_start..ek_end].repeat(5),
        &xml[ek_end..]
    );
    assert!(matches!(
        check_with(
            &idp,
            &many,
            &keys,
            Opts {
                allow_sha1: false,
                allow_cbc: false
            }
        ),
        Err(SamlError::Decrypt(_))
    ));
    // AES-CBC only when opted in; without the SP key nothing decrypts.
    let spec = Spec::new(Shape::Okta, ACS, SP, "ann@acme.test");
    let cbc = idp.encrypted_response(
        &spec,
        &sp.certificate_pem,
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
    );
    assert!(matches!(
        check_with(
            &idp,
            &cbc,
            &keys,
            Opts {
                allow_sha1: false,
                allow_cbc: false
            }
        ),
        Err(SamlError::WeakAlgorithm(_))
    ));
    check_with(
        &idp,
        &cbc,
        &keys,
        Opts {
            allow_sha1: false,
            allow_cbc: true,
        },
    )
    .unwrap();
    assert!(matches!(
        check_with(
            &idp,
            &cbc,
            &keys[..1],
            Opts {
                allow_sha1: false,
                allow_cbc: true
            }
        ),
        Err(SamlError::Decrypt(_))
    ));
}
