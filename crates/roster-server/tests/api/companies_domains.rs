use crate::helpers::{spawn_app, spawn_app_with, Backend, Options};
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{RData, Record};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

crate::on_both_backends!(
    companies_crud,
    dns_verification_with_a_real_resolver,
    manual_verification_and_public_domains
);

/// A DNS server on loopback answering TXT queries from `records` (NXDOMAIN otherwise).
pub(crate) async fn dns_server(records: Arc<Mutex<HashMap<String, Vec<String>>>>) -> SocketAddr {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, peer)) = sock.recv_from(&mut buf).await {
            let Ok(req) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut resp = Message::new();
            resp.set_id(req.id())
                .set_message_type(MessageType::Response)
                .set_op_code(req.op_code())
                .set_recursion_desired(req.recursion_desired())
                .set_recursion_available(true);
            resp.add_queries(req.queries().to_vec());
            for q in req.queries() {
                let name = q.name().to_ascii().trim_end_matches('.').to_lowercase();
                let values = records.lock().unwrap().get(&name).cloned().unwrap_or_default();
                for v in values {
                    resp.add_answer(Record::from_rdata(q.name().clone(), 60, RData::TXT(TXT::new(vec![v]))));
                }
            }
            if resp.answers().is_empty() {
                resp.set_response_code(ResponseCode::NXDomain);
            }
            let _ = sock.send_to(&resp.to_vec().unwrap(), peer).await;
        }
    });
    addr
}

async fn companies_crud(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = app.post_ok("/api/v1/companies", json!({ "name": "Globex" }), 201).await;
    let id = c["id"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/companies/globex").await.body["id"], id);
    assert_eq!(app.get(&format!("/api/v1/companies/{id}")).await.body["name"], "Globex");
    let a = app.post("/api/v1/companies", json!({ "name": "GLOBEX" })).await;
    assert_eq!(a.status, 409);
    app.post_ok(
        "/api/v1/organizations",
        json!({ "name": "globex-us", "company": "globex" }),
        201,
    )
    .await;
    let a = app.delete("/api/v1/companies/globex").await;
    assert_eq!(a.status, 409, "a company with organizations stays");
    assert_eq!(a.error_code(), "company_in_use");
    assert_eq!(app.delete("/api/v1/organizations/globex-us").await.status, 204);
    assert_eq!(app.delete("/api/v1/companies/globex").await.status, 204);
    assert_eq!(app.get("/api/v1/companies/globex").await.status, 404);
}

async fn dns_verification_with_a_real_resolver(backend: Backend) {
    let records = Arc::new(Mutex::new(HashMap::new()));
    let dns = dns_server(records.clone()).await;
    let app = spawn_app_with(
        backend,
        Options {
            dns_resolver: Some(dns),
            ..Options::default()
        },
    )
    .await;
    app.create_org("acme", None).await;
    let d = app
        .post_ok(
            "/api/v1/companies/acme/domains",
            json!({ "domain": "Example.COM" }),
            201,
        )
        .await;
    assert_eq!(d["domain"], "example.com");
    assert_eq!(d["verified"], false);
    let txt = d["txt_record"].as_str().unwrap().to_string();
    assert!(txt.starts_with("roster-verification="));

    // No record yet: refused, still unverified.
    let a = app
        .post(
            "/api/v1/companies/acme/domains/example.com/verify",
            json!({ "method": "dns" }),
        )
        .await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(a.error_code(), "txt_record_missing");
    // A wrong record does not count.
    records.lock().unwrap().insert(
        "example.com".into(),
        vec!["v=spf1 -all".into(), "roster-verification=wrong".into()],
    );
    let a = app
        .post(
            "/api/v1/companies/acme/domains/example.com/verify",
            json!({ "method": "dns" }),
        )
        .await;
    assert_eq!(a.error_code(), "txt_record_missing");
    // The right one does.
    records
        .lock()
        .unwrap()
        .insert("example.com".into(), vec!["v=spf1 -all".into(), txt.clone()]);
    let a = app
        .post(
            "/api/v1/companies/acme/domains/example.com/verify",
            json!({ "method": "dns" }),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body,
        json!({ "domain": "example.com", "verified": true, "method": "dns" })
    );
    let events = app.audit("company=acme").await;
    assert_eq!(events[0]["action"], "domain.verify");
    assert_eq!(events[0]["after"]["method"], "dns");

    // Another company cannot verify the same domain.
    app.create_org("rival", None).await;
    app.post_ok(
        "/api/v1/companies/rival/domains",
        json!({ "domain": "example.com" }),
        201,
    )
    .await;
    let a = app
        .post(
            "/api/v1/companies/rival/domains/example.com/verify",
            json!({ "method": "manual" }),
        )
        .await;
    assert_eq!(a.status, 409);
    assert_eq!(a.error_code(), "domain_taken");
}

async fn manual_verification_and_public_domains(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_org("acme", None).await;
    for public in ["gmail.com", "Outlook.com", "yahoo.co.uk"] {
        let a = app
            .post("/api/v1/companies/acme/domains", json!({ "domain": public }))
            .await;
        assert_eq!(a.status, 409, "{public}");
        assert_eq!(a.error_code(), "public_domain");
    }
    for bad in ["", "localhost", "exa mple.com", "-x.com"] {
        let a = app
            .post("/api/v1/companies/acme/domains", json!({ "domain": bad }))
            .await;
        assert_eq!(a.status, 400, "{bad}");
        assert_eq!(a.error_code(), "invalid_domain");
    }
    app.verified_domain("acme", "acme.test").await;
    let a = app.get("/api/v1/companies/acme/domains/acme.test").await;
    assert_eq!(a.body["verified"], true);
    assert_eq!(a.body["verified_method"], "manual");
    let a = app
        .post(
            "/api/v1/companies/acme/domains/acme.test/verify",
            json!({ "method": "carrier-pigeon" }),
        )
        .await;
    assert_eq!(a.status, 400);
    // DNS verification with no reachable resolver is a clear gateway error, not a 500.
    app.post_ok("/api/v1/companies/acme/domains", json!({ "domain": "other.test" }), 201)
        .await;
    let a = app
        .post(
            "/api/v1/companies/acme/domains/other.test/verify",
            json!({ "method": "dns" }),
        )
        .await;
    assert_eq!(a.status, 502, "{}", a.body);
    assert_eq!(a.error_code(), "dns_lookup_failed");
    assert_eq!(
        app.delete("/api/v1/companies/acme/domains/other.test").await.status,
        204
    );
    assert_eq!(
        app.get("/api/v1/companies/acme/domains")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
