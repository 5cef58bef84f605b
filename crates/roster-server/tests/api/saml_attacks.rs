//! Every known SAML attack through the real ACS, on both backends: each is refused
//! with a plain page and a trace id, sets no cookie, and changes nothing in the
//! directory (only the connection's error log grows).

use crate::helpers::{spawn_app, Backend, TestApp};
use crate::saml::{connection, new_request, post_acs, post_acs_from, setup, spec, IDP_ENTITY};
use roster_store::Store;
use roster_testidp::attacks::*;
use roster_testidp::{Idp, Shape, Signing};
use serde_json::json;

crate::on_both_backends!(
    attacks_through_the_acs_change_nothing,
    replays_are_refused_across_the_cache,
    a_sign_in_completes_only_in_the_browser_that_started_it,
);

const ATTACKER: &str = "eve@acme.test";
const VICTIM: &str = "admin@acme.test";

/// Row counts of everything a sign-in could change.
async fn snapshot(app: &TestApp) -> Vec<(String, i64)> {
    let store = Store::connect(&app.db.url, Default::default()).await.unwrap();
    let counts = store
        .read(|db| {
            Box::pin(async move {
                let mut out = Vec::new();
                for t in [
                    "users",
                    "memberships",
                    "teams",
                    "team_members",
                    "sessions",
                    "audit_events",
                    "saml_replay",
                ] {
                    let n: i64 = roster_store::db::query_scalar(&format!("SELECT COUNT(*) FROM {t}"))
                        .fetch_one(&mut *db)
                        .await?;
                    out.push((t.to_string(), n));
                }
                Ok(out)
            })
        })
        .await
        .unwrap();
    store.close().await;
    counts
}

async fn attacks_through_the_acs_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let idp = Idp::rsa(IDP_ENTITY);
    let conn = setup(&app, &idp, json!({})).await;
    let other_conn = connection(&app, &idp, "second", json!({})).await;
    let attacker_idp = Idp::rsa(IDP_ENTITY);
    // The admin exists; the attacker is a legitimate user of the same IdP.
    app.add_member("acme", VICTIM, "owner").await;

    let mut cases: Vec<(&str, String)> = Vec::new();
    for shape in [Shape::Okta, Shape::Entra] {
        let irt = new_request(&app, &conn).await;
        let mut s = spec(&app, &conn, shape, ATTACKER)
            .in_response_to(&irt)
            .signing(Signing::Response);
        s.name_id = ATTACKER.into();
        let response_signed = idp.response(&s);
        let rid = s.response_id.clone();
        cases.push(("XSW1", xsw1(&response_signed, &rid, ATTACKER, VICTIM)));
        cases.push(("XSW2", xsw2(&response_signed, &rid, ATTACKER, VICTIM)));
        let mut s = spec(&app, &conn, shape, ATTACKER)
            .in_response_to(&irt)
            .signing(Signing::Assertion);
        s.name_id = ATTACKER.into();
        let signed = idp.response(&s);
        let aid = s.assertion_id.clone();
        let prefix = if shape == Shape::Okta { "saml2p" } else { "samlp" };
        cases.push(("XSW3", xsw3(&signed, &aid, ATTACKER, VICTIM)));
        cases.push(("XSW4", xsw4(&signed, &aid, ATTACKER, VICTIM)));
        cases.push(("XSW5", xsw5(&signed, ATTACKER, VICTIM)));
        cases.push(("XSW6", xsw6(&signed, ATTACKER, VICTIM)));
        cases.push(("XSW7", xsw7(&signed, &aid, ATTACKER, VICTIM, prefix)));
        cases.push(("XSW8", xsw8(&signed, ATTACKER, VICTIM)));
    }
    let irt = new_request(&app, &conn).await;
    let base = || {
        spec(&app, &conn, Shape::Okta, ATTACKER)
            .in_response_to(&irt)
            .signing(Signing::Assertion)
    };
    let signed = idp.response(&base());
    let other = idp.response(
        &spec(&app, &conn, Shape::Okta, VICTIM)
            .in_response_to(&irt)
            .signing(Signing::Assertion),
    );
    cases.push(("duplicate IDs", duplicate_id(&signed, &s_assertion_id(&signed))));
    cases.push(("two assertions", two_assertions(&signed, &other)));
    cases.push(("unsigned", idp.response(&base().signing(Signing::None))));
    cases.push((
        "another key, its certificate in KeyInfo",
        attacker_idp.response(&base()),
    ));
    // Comments and CDATA do not change the canonical form, so these keep a valid
    // signature: the whole text must be read (a domain that is not verified), never
    // the victim's address before the injected node.
    let long = "admin@acme.test.evil.test";
    let long_signed = || async {
        idp.response(&spec(&app, &conn, Shape::Okta, long).in_response_to(&new_request(&app, &conn).await))
    };
    cases.push((
        "comment in NameID and attributes",
        comment_injection(&long_signed().await, long, VICTIM.len()),
    ));
    cases.push((
        "CDATA in NameID and attributes",
        cdata_injection(&long_signed().await, long, VICTIM.len()),
    ));
    cases.push(("DTD / XXE", xxe(&signed, ATTACKER)));
    cases.push(("entity expansion", entity_expansion(&signed)));
    cases.push((
        "oversized",
        signed.replacen(
            "<saml2p:Status>",
            &format!("<saml2p:Status><!--{}-->", "x".repeat(600 * 1024)),
            1,
        ),
    ));
    let mut sha1 = base();
    sha1.signature_algorithm = "http://www.w3.org/2000/09/xmldsig#rsa-sha1".into();
    sha1.digest_algorithm = "http://www.w3.org/2000/09/xmldsig#sha1".into();
    cases.push(("SHA-1 without opt-in", idp.response(&sha1)));
    cases.push((
        "HMAC",
        edit(
            &signed,
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
        ),
    ));
    let mut s = base();
    s.audience = "https://other-sp.example".into();
    cases.push(("wrong Audience", idp.response(&s)));
    let mut s = base();
    s.recipient = app.url(&format!("/sso/saml/{other_conn}/acs"));
    cases.push(("wrong Recipient", idp.response(&s)));
    let mut s = base().signing(Signing::Both);
    s.destination = Some("https://evil.example/acs".into());
    cases.push(("wrong Destination", idp.response(&s)));
    let mut s = base();
    s.issuer = Some("https://other-idp.example".into());
    cases.push(("wrong Issuer", idp.response(&s)));
    let now = app.clock.now();
    let mut s = base();
    s.not_before_ms = now - 3_600_000;
    s.not_on_or_after_ms = now - 600_000;
    cases.push(("expired", idp.response(&s)));
    let mut s = base();
    s.not_before_ms = now + 600_000;
    s.not_on_or_after_ms = now + 900_000;
    cases.push(("not yet valid", idp.response(&s)));
    let mut s = base();
    s.status = "urn:oasis:names:tc:SAML:2.0:status:Responder".into();
    cases.push(("non-Success status", idp.response(&s)));
    cases.push((
        "Reference to the wrong element",
        edit(
            &signed,
            &format!("URI=\"#{}\"", s_assertion_id(&signed)),
            &format!("URI=\"#{}\"", s_response_id(&signed)),
        ),
    ));
    cases.push((
        "extra transform",
        edit(
            &signed,
            "<ds:Transforms>",
            "<ds:Transforms><ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"><ds:XPath>1</ds:XPath></ds:Transform>",
        ),
    ));
    let other_irt = new_request(&app, &other_conn).await;
    cases.push((
        "InResponseTo of another connection's request",
        idp.response(&spec(&app, &conn, Shape::Okta, ATTACKER).in_response_to(&other_irt)),
    ));
    cases.push((
        "InResponseTo of a request never issued",
        idp.response(&spec(&app, &conn, Shape::Okta, ATTACKER).in_response_to("_never_issued")),
    ));
    // Policy: nothing out of its schema place, one Attribute per Name, an assertion used
    // fresh.
    let entra = idp.response(
        &spec(&app, &conn, Shape::Entra, ATTACKER)
            .in_response_to(&new_request(&app, &conn).await)
            .signing(Signing::Assertion),
    );
    cases.push((
        "an Assertion in a look-alike namespace",
        entra.replacen(
            "</samlp:Status>",
            r#"</samlp:Status><x:Assertion xmlns:x="urn:oasis:names:tc:SAML:2.0:assertion:"/>"#,
            1,
        ),
    ));
    cases.push((
        "an attribute twice",
        idp.response(
            &spec(&app, &conn, Shape::Okta, ATTACKER)
                .in_response_to(&new_request(&app, &conn).await)
                .attr("dockerRole", &["member"])
                .attr("dockerRole", &["owner"]),
        ),
    ));
    let mut stale = spec(&app, &conn, Shape::Okta, ATTACKER)
        .in_response_to(&new_request(&app, &conn).await)
        .at(app.clock.now() - 600_000);
    stale.not_on_or_after_ms = app.clock.now() + 300_000;
    cases.push(("issued ten minutes ago", idp.response(&stale)));
    cases.push((
        "IdP-initiated while off",
        idp.response(&spec(&app, &conn, Shape::Okta, ATTACKER)),
    ));
    cases.push(("not base64", "<<<".into()));

    let before = snapshot(&app).await;
    for (name, xml) in &cases {
        let a = if *name == "not base64" {
            let resp = crate::saml::no_redirects()
                .post(app.url(&format!("/sso/saml/{conn}/acs")))
                .form(&[("SAMLResponse", xml.as_str())])
                .send()
                .await
                .unwrap();
            crate::saml::AcsAnswer {
                status: resp.status().as_u16(),
                headers: resp.headers().clone(),
                body: resp.text().await.unwrap(),
            }
        } else {
            post_acs(&app, &conn, xml, None).await
        };
        assert!(matches!(a.status, 400 | 403 | 413), "{name}: {} {}", a.status, a.body);
        assert!(a.cookie().is_none(), "{name}: a session cookie was set");
        if a.status != 413 {
            let trace = a.headers["x-trace-id"].to_str().unwrap();
            assert!(a.body.contains(&format!("TraceID: {trace}")), "{name}: {}", a.body);
            assert!(
                !a.body.contains("ds:") && !a.body.contains("panicked"),
                "{name}: internals leaked: {}",
                a.body
            );
        }
    }
    // Nothing changed, and the request the attacks answered is still unused. Only the
    // two genuinely signed (and denied) injection responses were used up.
    let mut after = snapshot(&app).await;
    let replay = after.pop().unwrap();
    assert_eq!(replay, ("saml_replay".to_string(), before.last().unwrap().1 + 2));
    assert_eq!(after, before[..before.len() - 1]);
    let ok = idp.response(&spec(&app, &conn, Shape::Okta, ATTACKER).in_response_to(&irt));
    assert_eq!(
        post_acs(&app, &conn, &ok, None).await.status,
        303,
        "the real sign-in still works"
    );

    // The admin sees why each attempt failed.
    let log = app
        .get(&format!("/api/v1/connections/{conn}/errors?limit=200"))
        .await
        .body;
    let codes: Vec<String> = log["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap_or_default().to_string())
        .collect();
    for expected in [
        "saml_malformed",
        "saml_signature",
        "saml_unsigned",
        "saml_dtd",
        "saml_algorithm",
        "saml_audience",
        "saml_recipient",
        "saml_destination",
        "saml_issuer",
        "saml_expired",
        "saml_status",
        "saml_unknown_request",
        "idp_initiated_disabled",
        "domain_not_verified",
    ] {
        assert!(
            codes.iter().any(|c| c == expected),
            "no {expected} in the error log: {codes:?}"
        );
    }
}

fn s_attr(xml: &str, element: &str) -> String {
    let start = xml.find(element).unwrap();
    let id = start + xml[start..].find("ID=\"").unwrap() + 4;
    xml[id..id + xml[id..].find('"').unwrap()].to_string()
}

fn s_assertion_id(xml: &str) -> String {
    s_attr(xml, "<saml2:Assertion")
}

fn s_response_id(xml: &str) -> String {
    s_attr(xml, "<saml2p:Response")
}

async fn replays_are_refused_across_the_cache(backend: Backend) {
    let app = spawn_app(backend).await;
    let idp = Idp::rsa(IDP_ENTITY);
    let conn = setup(&app, &idp, json!({"idp_initiated": true})).await;
    let xml = idp.response(&spec(&app, &conn, Shape::Okta, "ann@acme.test"));
    assert_eq!(post_acs(&app, &conn, &xml, None).await.status, 303);
    let before = snapshot(&app).await;
    let again = post_acs(&app, &conn, &xml, None).await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(again.cookie().is_none());
    assert_eq!(snapshot(&app).await, before);
    let log = app.get(&format!("/api/v1/connections/{conn}/errors")).await.body;
    assert_eq!(log["errors"][0]["code"], "saml_replay");
    // An SP-initiated response answers its request once.
    let s = spec(&app, &conn, Shape::Okta, "ann@acme.test").in_response_to(&new_request(&app, &conn).await);
    let xml = idp.response(&s);
    assert_eq!(post_acs(&app, &conn, &xml, None).await.status, 303);
    assert_eq!(post_acs(&app, &conn, &xml, None).await.status, 400);
}

/// Login CSRF: an attacker starts a sign-in in their browser, gets the IdP's response for
/// their own account, and makes the victim's browser post it. The response answers a
/// real request, but the victim's browser does not hold that request's binding cookie.
async fn a_sign_in_completes_only_in_the_browser_that_started_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let idp = Idp::rsa(IDP_ENTITY);
    let conn = setup(&app, &idp, json!({})).await;
    let irt = new_request(&app, &conn).await;
    let binding = app.browser.lock().unwrap().last().cloned().unwrap();
    assert!(binding.starts_with(&format!("roster_sso{irt}=")), "{binding}");
    let xml = idp.response(&spec(&app, &conn, Shape::Okta, ATTACKER).in_response_to(&irt));

    let before = snapshot(&app).await;
    let wrong = format!("roster_sso{irt}=roster_not_the_secret");
    for (browser, cookies) in [("no cookie", String::new()), ("another secret", wrong)] {
        let a = post_acs_from(&app, &conn, &xml, None, &cookies).await;
        assert_eq!(a.status, 400, "{browser}: {}", a.body);
        assert!(a.cookie().is_none(), "{browser}: a session cookie was set");
        assert!(a.body.contains("started in another browser"), "{browser}: {}", a.body);
    }
    assert_eq!(snapshot(&app).await, before, "nothing changed");
    let errors = app.get(&format!("/api/v1/connections/{conn}/errors")).await;
    assert!(
        errors.body.to_string().contains("saml_other_browser"),
        "the error log says why: {}",
        errors.body
    );

    // The browser that started it completes it, once, and its binding cookie is cleared.
    let ok = post_acs(&app, &conn, &xml, None).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let cleared = ok
        .headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .any(|c| c.to_str().unwrap().starts_with(&format!("roster_sso{irt}=;")));
    assert!(cleared, "{:?}", ok.headers);
}
