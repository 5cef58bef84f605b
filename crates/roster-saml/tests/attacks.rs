//! Every known attack on a SAML SP, against the verifier alone. (The same attacks go
//! through the real ACS in the server's tests, which also check nothing changed.)

// Test code: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use roster_saml::keys::TrustedKey;
use roster_saml::{verify_response, SamlError};
use roster_testidp::attacks::*;
use roster_testidp::{expectations, Idp, Shape, Signing, Spec};

const ACS: &str = "https://roster.example/sso/saml/c1/acs";
const SP: &str = "https://roster.example/sso/saml/c1/metadata";
const ATTACKER: &str = "eve@acme.test";
const VICTIM: &str = "admin@acme.test";

fn verify(idp: &Idp, xml: &str) -> Result<String, SamlError> {
    let keys = vec![TrustedKey::parse(&idp.certificate_pem).unwrap()];
    verify_response(xml, &expectations(&idp.entity_id, &keys, ACS, SP)).map(|v| v.name_id.unwrap_or_default())
}

fn refused(idp: &Idp, name: &str, xml: &str) -> SamlError {
    match verify(idp, xml) {
        Ok(who) => panic!("{name} was accepted as {who}:\n{xml}"),
        Err(e) => e,
    }
}

#[test]
fn signature_wrapping_xsw1_to_xsw8_is_refused() {
    let idp = Idp::rsa("https://idp.example/app");
    for shape in [Shape::Okta, Shape::Entra] {
        let mut spec = Spec::new(shape, ACS, SP, ATTACKER).signing(Signing::Response);
        spec.name_id = ATTACKER.into();
        let response_signed = idp.response(&spec);
        assert_eq!(verify(&idp, &response_signed).unwrap(), ATTACKER);
        let rid = spec.response_id.as_str();
        for (name, xml) in [
            ("XSW1", xsw1(&response_signed, rid, ATTACKER, VICTIM)),
            ("XSW2", xsw2(&response_signed, rid, ATTACKER, VICTIM)),
        ] {
            let e = refused(&idp, name, &xml);
            eprintln!("{shape:?} {name}: {e}");
        }

        let mut spec = Spec::new(shape, ACS, SP, ATTACKER).signing(Signing::Assertion);
        spec.name_id = ATTACKER.into();
        let assertion_signed = idp.response(&spec);
        let aid2 = spec.assertion_id.as_str();
        let prefix = if shape == Shape::Okta { "saml2p" } else { "samlp" };
        for (name, xml) in [
            ("XSW3", xsw3(&assertion_signed, aid2, ATTACKER, VICTIM)),
            ("XSW4", xsw4(&assertion_signed, aid2, ATTACKER, VICTIM)),
            ("XSW5", xsw5(&assertion_signed, ATTACKER, VICTIM)),
            ("XSW6", xsw6(&assertion_signed, ATTACKER, VICTIM)),
            ("XSW7", xsw7(&assertion_signed, aid2, ATTACKER, VICTIM, prefix)),
            ("XSW8", xsw8(&assertion_signed, ATTACKER, VICTIM)),
        ] {
            let e = refused(&idp, name, &xml);
            eprintln!("{shape:?} {name}: {e}");
            assert!(
                matches!(e, SamlError::Malformed(_) | SamlError::Signature(_)),
                "{name}: refused for the wrong reason: {e}"
            );
        }
    }
}

#[test]
fn structural_attacks_are_refused() {
    let idp = Idp::rsa("https://idp.example/app");
    let spec = Spec::new(Shape::Okta, ACS, SP, ATTACKER).signing(Signing::Assertion);
    let signed = idp.response(&spec);
    let other = idp.response(&Spec::new(Shape::Okta, ACS, SP, VICTIM).signing(Signing::Assertion));
    let cases = [
        ("duplicate ID", duplicate_id(&signed, &spec.assertion_id)),
        ("two assertions", two_assertions(&signed, &other)),
        (
            "reference to the wrong element",
            edit(&signed, &format!("URI=\"#{}\"", spec.assertion_id), &format!("URI=\"#{}\"", spec.response_id)),
        ),
        (
            "extra transform",
            edit(
                &signed,
                "<ds:Transforms>",
                "<ds:Transforms><ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"><ds:XPath>1</ds:XPath></ds:Transform>",
            ),
        ),
        (
            "HMAC",
            edit(&signed, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "http://www.w3.org/2000/09/xmldsig#hmac-sha1"),
        ),
        (
            "inclusive C14N with comments",
            edit(
                &signed,
                "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
                "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments\"/>",
            ),
        ),
        ("unsigned", idp.response(&Spec::new(Shape::Okta, ACS, SP, VICTIM).signing(Signing::None))),
        ("signature moved out of position", {
            let (s0, s1) = {
                let a = signed.find("<saml2:Assertion").unwrap();
                let s = a + signed[a..].find("<ds:Signature").unwrap();
                (s, s + signed[s..].find("</ds:Signature>").unwrap() + "</ds:Signature>".len())
            };
            let sig = signed[s0..s1].to_string();
            let without = format!("{}{}", &signed[..s0], &signed[s1..]);
            without.replacen("</saml2:Assertion>", &format!("{sig}</saml2:Assertion>"), 1)
        }),
        ("DTD / XXE", xxe(&signed, ATTACKER)),
        ("entity expansion", entity_expansion(&signed)),
        ("tampered NameID", signed.replacen(&format!(">{ATTACKER}<"), &format!(">{VICTIM}<"), 1)),
        ("oversized", {
            let pad = "x".repeat(600 * 1024);
            signed.replacen("<saml2p:Status>", &format!("<saml2p:Status><!--{pad}-->"), 1)
        }),
    ];
    for (name, xml) in cases {
        let e = refused(&idp, name, &xml);
        if name == "oversized" {
            assert!(matches!(e, SamlError::TooLarge(_)), "{name}: {e}");
        }
        if name.starts_with("DTD") || name == "entity expansion" {
            assert!(matches!(e, SamlError::Dtd(_)), "{name}: {e}");
        }
        if name == "HMAC" || name.starts_with("inclusive") {
            assert!(
                matches!(e, SamlError::WeakAlgorithm(_) | SamlError::Signature(_)),
                "{name}: {e}"
            );
        }
    }
}

#[test]
fn keys_come_only_from_the_connection() {
    let trusted = Idp::rsa("https://idp.example/app");
    let attacker = Idp::rsa("https://idp.example/app");
    // Signed by another key, which also puts its own certificate in KeyInfo.
    let forged = attacker.response(&Spec::new(Shape::Okta, ACS, SP, VICTIM));
    assert!(forged.contains("<ds:X509Certificate>"));
    assert!(matches!(
        refused(&trusted, "another key", &forged),
        SamlError::Signature(_)
    ));
}

#[test]
fn protocol_checks_refuse_what_is_not_for_us() {
    let idp = Idp::rsa("https://idp.example/app");
    let base = || Spec::new(Shape::Entra, ACS, SP, ATTACKER);
    let now = roster_testidp::now_ms();
    type Expect = fn(&SamlError) -> bool;
    let mut cases: Vec<(&str, Spec, Expect)> = Vec::new();
    let mut s = base();
    s.audience = "https://other-sp.example".into();
    cases.push(("wrong audience", s, |e| matches!(e, SamlError::Audience(_))));
    let mut s = base();
    s.recipient = "https://evil.example/acs".into();
    cases.push(("wrong recipient", s, |e| matches!(e, SamlError::Recipient(_))));
    let mut s = base().signing(Signing::Both);
    s.destination = Some("https://evil.example/acs".into());
    cases.push(("wrong destination", s, |e| matches!(e, SamlError::Destination(_))));
    let mut s = base();
    s.issuer = Some("https://other-idp.example".into());
    cases.push(("wrong issuer", s, |e| matches!(e, SamlError::Issuer(_))));
    let mut s = base();
    s.not_before_ms = now - 3_600_000;
    s.not_on_or_after_ms = now - 600_000;
    cases.push(("expired", s, |e| matches!(e, SamlError::Expired(_))));
    let mut s = base();
    s.not_before_ms = now + 600_000;
    s.not_on_or_after_ms = now + 900_000;
    cases.push(("not yet valid", s, |e| matches!(e, SamlError::Expired(_))));
    // Policy: an assertion is used fresh, whatever its Conditions allow.
    let mut s = base();
    s.now_ms = now - 600_000;
    s.not_before_ms = now - 660_000;
    s.not_on_or_after_ms = now + 300_000;
    cases.push(("issued ten minutes ago", s, |e| matches!(e, SamlError::Expired(_))));
    let mut s = base();
    s.now_ms = now + 600_000;
    cases.push(("issued in the future", s, |e| matches!(e, SamlError::Expired(_))));
    // Policy: one Attribute per Name; two are ambiguous.
    let s = base().attr("dockerRole", &["member"]).attr("dockerRole", &["owner"]);
    cases.push(("an attribute twice", s, |e| matches!(e, SamlError::Malformed(_))));
    let mut s = base();
    s.status = "urn:oasis:names:tc:SAML:2.0:status:Requester".into();
    cases.push(("non-success status", s, |e| matches!(e, SamlError::Status(_))));
    for (name, spec, ok) in cases {
        let e = refused(&idp, name, &idp.response(&spec));
        assert!(ok(&e), "{name}: refused for the wrong reason: {e}");
    }
    // Within the clock skew is fine.
    let mut s = base();
    s.not_before_ms = now + 60_000;
    verify(&idp, &idp.response(&s)).unwrap();
}

#[test]
fn comments_and_cdata_cannot_truncate_identity() {
    let idp = Idp::rsa("https://idp.example/app");
    let long = "admin@acme.test.evil.test";
    let signed = idp.response(&Spec::new(Shape::Okta, ACS, SP, long));
    for xml in [
        comment_injection(&signed, long, "admin@acme.test".len()),
        cdata_injection(&signed, long, "admin@acme.test".len()),
    ] {
        // The signature still holds (C14N drops comments; CDATA is text) and the whole
        // text is read: the identity stays the one the IdP signed.
        assert_eq!(verify(&idp, &xml).unwrap(), long);
    }
}

#[test]
fn in_response_to_comes_only_from_signed_content() {
    let idp = Idp::rsa("https://idp.example/app");
    let keys = vec![TrustedKey::parse(&idp.certificate_pem).unwrap()];
    let exp = expectations(&idp.entity_id, &keys, ACS, SP);
    // SP-initiated, only the assertion signed (Entra): the request comes from the
    // signed confirmation.
    let sp_initiated = idp.response(&Spec::new(Shape::Entra, ACS, SP, ATTACKER).in_response_to("_req1"));
    assert_eq!(
        verify_response(&sp_initiated, &exp).unwrap().in_response_to.as_deref(),
        Some("_req1")
    );
    // An IdP-initiated assertion in an unsigned Response that claims to answer a
    // request (one the attacker had the SP issue) is refused: the claim is not signed.
    let idp_initiated = idp.response(&Spec::new(Shape::Entra, ACS, SP, ATTACKER));
    assert_eq!(verify_response(&idp_initiated, &exp).unwrap().in_response_to, None);
    let claimed = edit(
        &idp_initiated,
        "<samlp:Response",
        "<samlp:Response InResponseTo=\"_attackers_request\"",
    );
    assert!(matches!(verify_response(&claimed, &exp), Err(SamlError::Subject(_))));
    // Nor may an unsigned Response name another request than the signed confirmation.
    let other = edit(&sp_initiated, "InResponseTo=\"_req1\"", "InResponseTo=\"_req2\"");
    assert!(verify_response(&other, &exp).is_err());
    // When the Response is signed, its InResponseTo is signed content.
    let signed = idp.response(&Spec::new(Shape::Okta, ACS, SP, ATTACKER).in_response_to("_req3"));
    assert_eq!(
        verify_response(&signed, &exp).unwrap().in_response_to.as_deref(),
        Some("_req3")
    );
}

#[test]
fn work_bounds_are_refused_before_any_crypto() {
    let idp = Idp::rsa("https://idp.example/app");
    let okta = idp.response(&Spec::new(Shape::Okta, ACS, SP, ATTACKER));
    assert!(okta.contains("PrefixList=\"xs\""));
    // A long InclusiveNamespaces list would cost a lookup per prefix per element.
    let prefixes: Vec<String> = (0..40).map(|i| format!("p{i}")).collect();
    let long = okta.replacen(
        "PrefixList=\"xs\"",
        &format!("PrefixList=\"xs {}\"", prefixes.join(" ")),
        1,
    );
    assert!(matches!(
        refused(&idp, "long PrefixList", &long),
        SamlError::Signature(_)
    ));
    // Attributes and namespace declarations per element are bounded.
    let attrs: String = (0..65).map(|i| format!(" a{i}=\"\"")).collect();
    let many_attrs = okta.replacen("<saml2:Conditions", &format!("<saml2:Conditions{attrs}"), 1);
    assert!(matches!(
        refused(&idp, "65 attributes", &many_attrs),
        SamlError::TooLarge(_)
    ));
    let decls: String = (0..17).map(|i| format!(" xmlns:n{i}=\"urn:n{i}\"")).collect();
    let many_decls = okta.replacen("<saml2:Conditions", &format!("<saml2:Conditions{decls}"), 1);
    assert!(matches!(
        refused(&idp, "17 namespace declarations", &many_decls),
        SamlError::TooLarge(_)
    ));
}

/// Policy: an element out of its schema place is refused, not ignored. The Assertion's
/// signature stays valid (the additions are outside it), so before this policy each
/// response below was accepted with the look-alike skipped.
#[test]
fn elements_out_of_place_are_refused() {
    let idp = Idp::rsa("https://idp.example/app");
    let signed = idp.response(&Spec::new(Shape::Entra, ACS, SP, ATTACKER).signing(Signing::Assertion));
    verify(&idp, &signed).unwrap();
    let beside_status = |extra: &str| signed.replacen("</samlp:Status>", &format!("</samlp:Status>{extra}"), 1);
    let cases = [
        (
            "an Assertion in a look-alike namespace",
            beside_status(
                r#"<x:Assertion xmlns:x="urn:oasis:names:tc:SAML:2.0:assertion:"><x:Subject/></x:Assertion>"#,
            ),
        ),
        (
            "an unknown child of the Response",
            beside_status(r#"<samlp:Note>hello</samlp:Note>"#),
        ),
        (
            "a look-alike hidden in Extensions",
            signed.replacen(
                "<samlp:Status>",
                r#"<samlp:Extensions><e:Response xmlns:e="urn:example:evil"/></samlp:Extensions><samlp:Status>"#,
                1,
            ),
        ),
    ];
    for (name, xml) in cases {
        assert_ne!(xml, signed, "{name}: the construction changed nothing");
        let e = refused(&idp, name, &xml);
        assert!(
            matches!(e, SamlError::Malformed(_)),
            "{name}: refused for the wrong reason: {e}"
        );
    }
}
