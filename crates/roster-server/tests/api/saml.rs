//! SAML sign-in end to end through the real endpoints, on both backends, with
//! responses signed (and encrypted) by third-party software in the shapes Okta, Entra
//! ID, Google and ADFS send.

use crate::helpers::{spawn_app, Backend, TestApp};
use base64::Engine;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use roster_testidp::{Idp, Shape, Signing, Spec};
use serde_json::{json, Value};
use std::io::Read;

crate::on_both_backends!(
    every_idp_shape_signs_in_and_provisions,
    sp_initiated_round_trip_with_a_signed_request,
    encrypted_assertions_and_sp_key_rotation,
    denials_show_the_spec_message_and_reach_the_error_log,
    connections_from_metadata_and_certificate_warnings,
    sso_start_routes_by_domain_and_sessions_end,
);

pub(crate) const IDP_ENTITY: &str = "https://idp.example.test/app/exk1";

pub(crate) fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Company `acme` with organization `acme` (teams come from groups), domain acme.test,
/// and a SAML connection trusting `idp`. Returns the connection id.
pub(crate) async fn setup(app: &TestApp, idp: &Idp, extra: Value) -> String {
    app.create_org("acme", None).await;
    app.verified_domain("acme", "acme.test").await;
    connection(app, idp, "okta", extra).await
}

pub(crate) async fn connection(app: &TestApp, idp: &Idp, name: &str, extra: Value) -> String {
    let mut body = json!({
        "company": "acme", "name": name, "protocol": "saml", "domains": if name == "okta" { json!(["acme.test"]) } else { json!([]) },
        "organizations": ["acme"], "default_organization": "acme",
        "saml": { "idp_entity_id": idp.entity_id, "idp_sso_url": "https://idp.example.test/sso", "idp_certificates": [idp.certificate_pem] }
    });
    for (k, v) in extra.as_object().unwrap() {
        if k == "saml" {
            for (sk, sv) in v.as_object().unwrap() {
                body["saml"][sk] = sv.clone();
            }
        } else {
            body[k] = v.clone();
        }
    }
    app.post_ok("/api/v1/connections", body, 201).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

pub(crate) fn urls(app: &TestApp, conn: &str) -> (String, String) {
    (
        app.url(&format!("/sso/saml/{conn}/metadata")),
        app.url(&format!("/sso/saml/{conn}/acs")),
    )
}

pub(crate) fn spec(app: &TestApp, conn: &str, shape: Shape, email: &str) -> Spec {
    let (sp, acs) = urls(app, conn);
    Spec::new(shape, &acs, &sp, email).at(app.clock.now())
}

/// `GET …/login`: the redirect, its decoded AuthnRequest XML, and the query.
pub(crate) async fn login(app: &TestApp, conn: &str, return_to: &str) -> (String, String, Vec<(String, String)>) {
    let resp = no_redirects()
        .get(app.url(&format!("/sso/saml/{conn}/login?return_to={return_to}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302, "{}", resp.text().await.unwrap_or_default());
    // The browser keeps the cookie binding the request to it.
    for c in resp.headers().get_all(SET_COOKIE) {
        let pair = c.to_str().unwrap().split(';').next().unwrap().to_string();
        app.browser.lock().unwrap().push(pair);
    }
    let location = resp.headers()[LOCATION].to_str().unwrap().to_string();
    let url = url::Url::parse(&location).unwrap();
    let query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let req = &query.iter().find(|(k, _)| k == "SAMLRequest").unwrap().1;
    let deflated = base64::engine::general_purpose::STANDARD.decode(req).unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&deflated[..])
        .read_to_string(&mut xml)
        .unwrap();
    (location, xml, query)
}

/// The ID of a decoded AuthnRequest.
pub(crate) fn request_id(xml: &str) -> String {
    let doc = roster_saml::xml::Document::parse(xml, Default::default()).unwrap();
    doc.attr(doc.root, "ID").unwrap().to_string()
}

/// A fresh request id from `GET …/login`, for the response to answer.
pub(crate) async fn new_request(app: &TestApp, conn: &str) -> String {
    request_id(&login(app, conn, "/me").await.1)
}

pub(crate) struct AcsAnswer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl AcsAnswer {
    pub fn cookie(&self) -> Option<String> {
        let c = self.headers.get(SET_COOKIE)?.to_str().ok()?;
        Some(c.split(';').next()?.to_string())
    }
}

/// Posts a response to the ACS from the browser that signed in (with its cookies).
pub(crate) async fn post_acs(app: &TestApp, conn: &str, xml: &str, relay: Option<&str>) -> AcsAnswer {
    let cookies = app.browser.lock().unwrap().join("; ");
    post_acs_from(app, conn, xml, relay, &cookies).await
}

/// Posts a response to the ACS from a browser holding `cookies`.
pub(crate) async fn post_acs_from(
    app: &TestApp,
    conn: &str,
    xml: &str,
    relay: Option<&str>,
    cookies: &str,
) -> AcsAnswer {
    let mut form = vec![("SAMLResponse", roster_testidp::post_field(xml))];
    if let Some(r) = relay {
        form.push(("RelayState", r.to_string()));
    }
    let mut req = no_redirects()
        .post(app.url(&format!("/sso/saml/{conn}/acs")))
        .form(&form);
    if !cookies.is_empty() {
        req = req.header("cookie", cookies);
    }
    let resp = req.send().await.unwrap();
    AcsAnswer {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().await.unwrap_or_default(),
    }
}

pub(crate) async fn me(app: &TestApp, cookie: &str) -> (u16, Value) {
    let resp = app
        .client
        .get(app.url("/api/v1/me"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Signs in with `spec` (answering a fresh request) and returns `/api/v1/me`.
async fn sign_in(app: &TestApp, conn: &str, idp: &Idp, spec: Spec) -> Value {
    let spec = spec.in_response_to(&new_request(app, conn).await);
    let a = post_acs(app, conn, &idp.response(&spec), None).await;
    assert_eq!(a.status, 303, "{:?}: {}", spec.shape, a.body);
    let (status, me) = me(app, &a.cookie().expect("a session cookie")).await;
    assert_eq!(status, 200, "{me}");
    me
}

async fn every_idp_shape_signs_in_and_provisions(backend: Backend) {
    let app = spawn_app(backend).await;
    let idp = Idp::rsa(IDP_ENTITY);
    let conn = setup(&app, &idp, json!({})).await;
    let cases = [
        (Shape::Okta, Signing::Both, "okta.user@acme.test"),
        (Shape::Okta, Signing::Assertion, "okta.assertion@acme.test"),
        (Shape::Entra, Signing::Assertion, "entra.user@acme.test"),
        (Shape::Entra, Signing::Response, "entra.response@acme.test"),
        (Shape::Google, Signing::Response, "google.user@acme.test"),
        (Shape::Adfs, Signing::Assertion, "adfs.user@acme.test"),
    ];
    for (shape, signing, email) in cases {
        // Attribute name forms of A1: claim URIs (Entra/ADFS) and plain names.
        let groups = match shape {
            Shape::Entra => "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
            Shape::Adfs => "http://schemas.xmlsoap.org/claims/Group",
            _ => "groups",
        };
        let mut s = spec(&app, &conn, shape, email)
            .signing(signing)
            .attr(groups, &["acme:dev", "acme:ops", "not-a-mapping"])
            .attr("dockerRole", &["editor"]);
        if shape == Shape::Entra {
            s = s.attr(
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
                &["Entra Person"],
            );
        }
        let me = sign_in(&app, &conn, &idp, s).await;
        assert_eq!(me["user"]["email"], email, "{shape:?}");
        let m = &me["memberships"][0];
        assert_eq!(m["organization"], "acme");
        assert_eq!(m["role"], "editor", "{shape:?}: {me}");
        assert_eq!(m["state"], "active");
        assert_eq!(m["teams"], json!(["dev", "ops"]), "{shape:?}: {me}");
        if shape == Shape::Entra {
            assert_eq!(me["user"]["full_name"], "Entra Person");
        }
    }
    // Every sign-in is in the audit trail, by the sso actor, with its rules.
    let events = app.audit("").await;
    assert!(events.iter().filter(|e| e["action"] == "session.start").count() >= cases.len());
}

async fn sp_initiated_round_trip_with_a_signed_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let idp = Idp::rsa(IDP_ENTITY);
    let conn = setup(&app, &idp, json!({})).await;
    let (sp, acs) = urls(&app, &conn);

    let (location, xml, query) = login(&app, &conn, "/dash%3Ftab%3D2").await;
    assert!(location.starts_with("https://idp.example.test/sso?SAMLRequest="));
    let doc = roster_saml::xml::Document::parse(&xml, Default::default()).unwrap();
    assert_eq!(doc.attr(doc.root, "AssertionConsumerServiceURL"), Some(acs.as_str()));
    assert_eq!(doc.attr(doc.root, "Destination"), Some("https://idp.example.test/sso"));
    assert!(xml.contains(&format!(">{sp}</saml:Issuer>")));
    // The redirect is signed with the SP key published in the metadata (Bindings §3.4.4.1).
    let get = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.clone()).unwrap();
    let raw_query = url::Url::parse(&location).unwrap().query().unwrap().to_string();
    let signed_part = &raw_query[..raw_query.find("&Signature=").unwrap()];
    let keys = app.get(&format!("/api/v1/connections/{conn}/saml/sp-keys")).await.body;
    let cert = roster_saml::TrustedKey::parse(keys[0]["certificate"].as_str().unwrap()).unwrap();
    let sig = base64::engine::general_purpose::STANDARD
        .decode(get("Signature"))
        .unwrap();
    assert_eq!(get("SigAlg"), "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256");
    roster_saml::dsig::verify_detached(&cert, &get("SigAlg"), signed_part.as_bytes(), &sig, Default::default())
        .expect("the AuthnRequest signature verifies with the published SP key");

    let id = request_id(&xml);
    let s = spec(&app, &conn, Shape::Okta, "round.trip@acme.test").in_response_to(&id);
    let a = post_acs(&app, &conn, &idp.response(&s), Some(&get("RelayState"))).await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(a.headers[LOCATION], "/dash?tab=2");
    let set_cookie = a.headers[SET_COOKIE].to_str().unwrap();
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=86400"] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "http public URL: no Secure flag");
    let (status, me) = me(&app, &a.cookie().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(me["user"]["email"], "round.trip@acme.test");
    assert!(me["session"]["expires_at"].as_str().is_some());
    // The same request cannot be answered twice.
    let again = spec(&app, &conn, Shape::Okta, "round.trip@acme.test").in_response_to(&id);
    assert_eq!(post_acs(&app, &conn, &idp.response(&again), None).await.status, 400);
    // An open redirect is refused at login.
    let r = no_redirects()
        .get(app.url(&format!("/sso/saml/{conn}/login?return_to=https://evil.example/")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

async fn encrypted_assertions_and_sp_key_rotation(backend: Backend) {
    let app = spawn_app(backend).await;
    let idp = Idp::rsa(IDP_ENTITY);
    let conn = setup(&app, &idp, json!({})).await;
    let keys = app.get(&format!("/api/v1/connections/{conn}/saml/sp-keys")).await.body;
    let old_cert = keys[0]["certificate"].as_str().unwrap().to_string();
    for shape in [Shape::Okta, Shape::Entra, Shape::Adfs] {
        let s = spec(&app, &conn, shape, &format!("enc.{shape:?}@acme.test").to_lowercase())
            .in_response_to(&new_request(&app, &conn).await);
        let xml = idp.encrypted_response(&s, &old_cert, "http://www.w3.org/2009/xmlenc11#aes256-gcm");
        let a = post_acs(&app, &conn, &xml, None).await;
        assert_eq!(a.status, 303, "{shape:?}: {}", a.body);
    }

    // Rotate: both certificates are published; the old one still decrypts during the overlap.
    let rotated = app
        .post_ok(
            &format!("/api/v1/connections/{conn}/saml/sp-keys"),
            json!({"overlap_days": 7}),
            201,
        )
        .await;
    assert_eq!(rotated.as_array().unwrap().len(), 2);
    assert_eq!(rotated[0]["signing"], true);
    assert!(rotated[1]["retires_at"].as_str().is_some());
    let new_cert = rotated[0]["certificate"].as_str().unwrap().to_string();
    let metadata = app
        .client
        .get(app.url(&format!("/sso/saml/{conn}/metadata")))
        .send()
        .await
        .unwrap();
    assert_eq!(metadata.headers()["content-type"], "application/samlmetadata+xml");
    let metadata = metadata.text().await.unwrap();
    let b64 = |pem: &str| pem.lines().filter(|l| !l.starts_with("-----")).collect::<String>();
    assert!(metadata.contains(&b64(&old_cert)) && metadata.contains(&b64(&new_cert)));
    for cert in [&old_cert, &new_cert] {
        let s = spec(&app, &conn, Shape::Okta, "rotation@acme.test").in_response_to(&new_request(&app, &conn).await);
        let a = post_acs(
            &app,
            &conn,
            &idp.encrypted_response(&s, cert, "http://www.w3.org/2009/xmlenc11#aes128-gcm"),
            None,
        )
        .await;
        assert_eq!(a.status, 303, "{}", a.body);
    }
    // After the overlap only the new key is used.
    app.clock.advance_ms(8 * 86_400_000);
    let s = spec(&app, &conn, Shape::Okta, "rotation@acme.test").in_response_to(&new_request(&app, &conn).await);
    let a = post_acs(
        &app,
        &conn,
        &idp.encrypted_response(&s, &old_cert, "http://www.w3.org/2009/xmlenc11#aes128-gcm"),
        None,
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    let metadata = app
        .client
        .get(app.url(&format!("/sso/saml/{conn}/metadata")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!metadata.contains(&b64(&old_cert)) && metadata.contains(&b64(&new_cert)));
}

async fn denials_show_the_spec_message_and_reach_the_error_log(backend: Backend) {
    let app = spawn_app(backend).await;
    let idp = Idp::rsa(IDP_ENTITY);
    let conn = setup(&app, &idp, json!({})).await;
    // A4: a domain the connection does not serve.
    let s = spec(&app, &conn, Shape::Okta, "someone@other.test").in_response_to(&new_request(&app, &conn).await);
    let a = post_acs(&app, &conn, &idp.response(&s), None).await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.body.contains("Domain &#39;other.test&#39; is not verified for your SSO connection. Contact your company administrator. TraceID: "), "{}", a.body);
    assert!(a.cookie().is_none());
    let trace = a.headers["x-trace-id"].to_str().unwrap().to_string();
    assert!(a.body.contains(&trace));
    // IdP-initiated while off.
    let s = spec(&app, &conn, Shape::Okta, "ann@acme.test");
    let a = post_acs(&app, &conn, &idp.response(&s), None).await;
    assert_eq!(a.status, 403);
    assert!(
        a.body
            .contains("IdP-Initiated sign in is not enabled for connection &#39;okta&#39;."),
        "{}",
        a.body
    );
    // E1: the admin sees both, with the trace ids and the values behind them.
    let log = app.get(&format!("/api/v1/connections/{conn}/errors")).await;
    assert_eq!(log.status, 200);
    let entries = log.body["errors"]
        .as_array()
        .or_else(|| log.body.as_array())
        .unwrap()
        .clone();
    let domain = entries
        .iter()
        .find(|e| e["code"] == "domain_not_verified")
        .expect("logged");
    assert_eq!(domain["trace_id"], trace.as_str());
    assert_eq!(domain["kind"], "sso");
    assert!(domain["detail"].as_str().unwrap().contains("someone@other.test"));
    assert!(entries.iter().any(|e| e["code"] == "idp_initiated_disabled"));
    // Nothing was made.
    assert_eq!(app.get("/api/v1/users").await.body.as_array().unwrap().len(), 0);

    // IdP-initiated when the connection allows it: RelayState may name a path.
    app.patch(&format!("/api/v1/connections/{conn}"), json!({"idp_initiated": true}))
        .await;
    let s = spec(&app, &conn, Shape::Okta, "ann@acme.test");
    let a = post_acs(&app, &conn, &idp.response(&s), Some("/welcome")).await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(a.headers[LOCATION], "/welcome");
    let s = spec(&app, &conn, Shape::Okta, "ann@acme.test");
    let a = post_acs(&app, &conn, &idp.response(&s), Some("https://evil.example/")).await;
    assert_eq!(a.headers[LOCATION], "/me", "an unsafe RelayState falls back to /me");
}

async fn connections_from_metadata_and_certificate_warnings(backend: Backend) {
    let app = spawn_app(backend).await;
    let idp = Idp::rsa(IDP_ENTITY);
    app.create_org("acme", None).await;
    app.verified_domain("acme", "acme.test").await;
    // Pasted metadata.
    let c = app
        .post_ok(
            "/api/v1/connections",
            json!({"company": "acme", "name": "pasted", "protocol": "saml", "domains": ["acme.test"], "organizations": ["acme"],
                   "default_organization": "acme", "saml": {"idp_metadata_xml": idp.metadata("https://idp.example.test/sso")}}),
            201,
        )
        .await;
    assert_eq!(c["configured"], true);
    assert_eq!(c["saml"]["idp_entity_id"], IDP_ENTITY);
    assert_eq!(c["saml"]["idp_sso_url"], "https://idp.example.test/sso");
    assert_eq!(c["saml"]["idp_certificates"].as_array().unwrap().len(), 1);
    assert!(c["saml"].get("idp_metadata_xml").is_none());
    assert_eq!(c["warnings"], json!([]));
    let conn = c["id"].as_str().unwrap().to_string();
    // It signs in.
    let s = spec(&app, &conn, Shape::Entra, "meta@acme.test").in_response_to(&new_request(&app, &conn).await);
    assert_eq!(post_acs(&app, &conn, &idp.response(&s), None).await.status, 303);

    // Metadata from a URL.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let meta_url = format!("http://{}/metadata", listener.local_addr().unwrap());
    let xml = idp.metadata("https://idp.example.test/sso2");
    let big = "x".repeat(2 * 1024 * 1024);
    let server = axum::Router::new()
        .route("/metadata", axum::routing::get(move || async move { xml }))
        .route("/big", axum::routing::get(move || async move { big }));
    tokio::spawn(async move { axum::serve(listener, server).await.unwrap() });
    let c = app
        .post_ok(
            "/api/v1/connections",
            json!({"company": "acme", "name": "fetched", "protocol": "saml", "organizations": ["acme"],
                   "default_organization": "acme", "saml": {"idp_metadata_url": meta_url}}),
            201,
        )
        .await;
    assert_eq!(c["saml"]["idp_sso_url"], "https://idp.example.test/sso2");
    assert_eq!(c["saml"]["idp_metadata_url"], meta_url.as_str());
    let too_big = app
        .post(
            "/api/v1/connections",
            json!({"company": "acme", "name": "big", "protocol": "saml", "organizations": ["acme"], "default_organization": "acme",
                   "saml": {"idp_metadata_url": meta_url.replace("/metadata", "/big")}}),
        )
        .await;
    assert_eq!(too_big.status, 400);
    assert_eq!(too_big.error_code(), "invalid_metadata");
    for bad in [
        json!({"idp_metadata_xml": "<not metadata/>"}),
        json!({"idp_certificates": ["-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"]}),
        // Unsigned metadata over plain http could be swapped on the way: https only.
        json!({"idp_metadata_url": "http://idp.example.test/metadata"}),
    ] {
        let a = app
            .post(
                "/api/v1/connections",
                json!({"company": "acme", "name": "bad", "protocol": "saml", "organizations": ["acme"], "default_organization": "acme", "saml": bad}),
            )
            .await;
        assert_eq!(a.status, 400, "{}", a.body);
    }

    // A PEM bundle (the next certificate first, as during the IdP's rotation) signs in.
    let next = Idp::rsa(IDP_ENTITY);
    let bundle = format!("{}\n{}", next.certificate_pem, idp.certificate_pem);
    let bundled = conn.clone();
    let patched = app
        .patch(
            &format!("/api/v1/connections/{conn}"),
            json!({"saml": {"idp_entity_id": IDP_ENTITY, "idp_sso_url": "https://idp.example.test/sso", "idp_certificates": [bundle]}}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let s = spec(&app, &bundled, Shape::Entra, "bundle@acme.test").in_response_to(&new_request(&app, &bundled).await);
    assert_eq!(post_acs(&app, &bundled, &idp.response(&s), None).await.status, 303);
    let s = spec(&app, &bundled, Shape::Entra, "bundle@acme.test").in_response_to(&new_request(&app, &bundled).await);
    assert_eq!(post_acs(&app, &bundled, &next.response(&s), None).await.status, 303);

    // A certificate that expires within 30 days is flagged: both of the bundle's.
    let not_after = roster_saml::TrustedKey::parse(&idp.certificate_pem)
        .unwrap()
        .not_after_ms;
    app.clock.advance_ms(not_after - 10 * 86_400_000 - app.clock.now());
    let c = app.get(&format!("/api/v1/connections/{conn}")).await.body;
    let warnings = c["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 2, "{c}");
    assert!(
        warnings.iter().all(|w| w.as_str().unwrap().contains("expires on")),
        "{c}"
    );
    assert_eq!(c["idp_certificates_info"].as_array().unwrap().len(), 2);
    assert!(c["idp_certificates_info"][0]["not_after"].as_str().is_some());
}

async fn sso_start_routes_by_domain_and_sessions_end(backend: Backend) {
    let app = spawn_app(backend).await;
    let idp = Idp::rsa(IDP_ENTITY);
    let conn = setup(&app, &idp, json!({})).await;
    let r = no_redirects()
        .get(app.url("/sso/start?email=ann@eu.acme.test"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(
        r.headers()[LOCATION].to_str().unwrap(),
        format!("/sso/saml/{conn}/login")
    );
    let r = no_redirects()
        .get(app.url("/sso/start?email=ann@unknown.test"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = no_redirects()
        .get(app.url("/sso/start?email=not-an-email"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    assert_eq!(me(&app, "roster_session=nope").await.0, 401);
    let s = spec(&app, &conn, Shape::Okta, "short@acme.test")
        .attr("dockerSessionMinutes", &["30"])
        .in_response_to(&new_request(&app, &conn).await);
    let a = post_acs(&app, &conn, &idp.response(&s), None).await;
    assert!(
        a.headers[SET_COOKIE].to_str().unwrap().contains("Max-Age=1800"),
        "T1: dockerSessionMinutes"
    );
    let cookie = a.cookie().unwrap();
    assert_eq!(me(&app, &cookie).await.0, 200);
    // The session page renders too.
    let page = app
        .client
        .get(app.url("/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("short@acme.test"));
    // T1: it ends after its minutes.
    app.clock.advance_ms(31 * 60_000);
    assert_eq!(me(&app, &cookie).await.0, 401);
    // Sign-out ends a session at once.
    let s = spec(&app, &conn, Shape::Okta, "short@acme.test").in_response_to(&new_request(&app, &conn).await);
    let cookie = post_acs(&app, &conn, &idp.response(&s), None).await.cookie().unwrap();
    assert_eq!(me(&app, &cookie).await.0, 200);
    let out = app
        .client
        .post(app.url("/sso/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert_eq!(me(&app, &cookie).await.0, 401);
}
