use crate::helpers::{spawn_app, spawn_app_with, Backend, Options, ADMIN_TOKEN};
use reqwest::Method;
use serde_json::json;

crate::on_both_backends!(
    malformed_requests_get_json_4xx,
    oversized_bodies_are_413,
    names_are_data_not_code
);

async fn malformed_requests_get_json_4xx(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_org("acme", None).await;
    let raw = |method: Method, path: &str, ctype: Option<&str>, body: &str| {
        let mut req = app
            .client
            .request(method, app.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .body(body.to_string());
        if let Some(c) = ctype {
            req = req.header("content-type", c);
        }
        req.send()
    };
    // (method, path, content type, body, status, error code)
    type Case<'a> = (Method, &'a str, Option<&'a str>, &'a str, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            Method::POST,
            "/api/v1/organizations",
            Some("application/json"),
            "{\"name\": ",
            400,
            "malformed_json",
        ),
        (
            Method::POST,
            "/api/v1/organizations",
            Some("application/json"),
            "[1,2,3]",
            400,
            "invalid_body",
        ),
        (
            Method::POST,
            "/api/v1/organizations",
            Some("application/json"),
            "{\"name\": 42}",
            400,
            "invalid_body",
        ),
        (
            Method::POST,
            "/api/v1/organizations",
            Some("application/json"),
            "{\"name\": \"x\", \"seat_limit\": -1}",
            400,
            "invalid_body",
        ),
        (
            Method::POST,
            "/api/v1/organizations",
            Some("application/json"),
            "{\"name\": \"x\", \"seat_limit\": 1e99}",
            400,
            "invalid_body",
        ),
        (
            Method::POST,
            "/api/v1/organizations",
            Some("text/plain"),
            "{\"name\": \"x\"}",
            415,
            "unsupported_media_type",
        ),
        (
            Method::POST,
            "/api/v1/organizations",
            None,
            "",
            415,
            "unsupported_media_type",
        ),
        (
            Method::PUT,
            "/api/v1/organizations",
            Some("application/json"),
            "{}",
            405,
            "method_not_allowed",
        ),
        (
            Method::GET,
            "/api/v1/organizations/acme/teams/x/y/z",
            None,
            "",
            404,
            "not_found",
        ),
        (
            Method::GET,
            "/api/v1/organizations/00000000-0000-0000-0000-000000000000",
            None,
            "",
            404,
            "not_found",
        ),
        (Method::GET, "/api/v1/audit?cursor=abc", None, "", 400, "invalid_cursor"),
        (Method::GET, "/api/v1/audit?limit=many", None, "", 400, "invalid_query"),
        (Method::GET, "/api/v1/audit?bogus=1", None, "", 400, "invalid_query"),
        (
            Method::POST,
            "/api/v1/organizations/acme/members",
            Some("application/json"),
            "{\"email\": \"not-an-email\"}",
            400,
            "invalid_email",
        ),
        (
            Method::POST,
            "/api/v1/organizations/acme/members",
            Some("application/json"),
            "{\"email\": \"a@example.com\", \"role\": \"god\"}",
            400,
            "invalid_role",
        ),
        (
            Method::PATCH,
            "/api/v1/organizations/acme/members/nobody@example.com",
            Some("application/json"),
            "{\"role\": \"owner\"}",
            404,
            "not_found",
        ),
        (
            Method::POST,
            "/api/v1/companies/acme/domains/x.test/verify",
            Some("application/json"),
            "{\"method\": \"dns\"}",
            404,
            "not_found",
        ),
    ];
    for (method, path, ctype, body, status, code) in cases {
        let resp = raw(method.clone(), path, ctype, body).await.unwrap();
        let got = resp.status().as_u16();
        let trace = resp
            .headers()
            .get("x-trace-id")
            .map(|v| v.to_str().unwrap().to_string());
        let json: serde_json::Value = resp
            .json()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: non-JSON error body: {e}"));
        assert_eq!(got, status, "{method} {path} {body}: {json}");
        assert_eq!(json["error"]["code"], code, "{method} {path} {body}: {json}");
        assert_eq!(json["error"]["trace_id"].as_str(), trace.as_deref(), "{method} {path}");
    }
    // A caller's request id is not adopted as the trace id: trace ids are the server's own.
    let resp = app
        .client
        .get(app.url("/api/v1/organizations/nope"))
        .bearer_auth(ADMIN_TOKEN)
        .header("x-request-id", "req-12345678")
        .send()
        .await
        .unwrap();
    let trace = resp.headers()["x-trace-id"].to_str().unwrap().to_string();
    assert_ne!(trace, "req-12345678");
    assert_eq!(trace.len(), 32);
}

async fn oversized_bodies_are_413_inner(backend: Backend, chunked: bool) {
    let app = spawn_app_with(
        backend,
        Options {
            max_body_bytes: 64 * 1024,
            ..Options::default()
        },
    )
    .await;
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(256 * 1024));
    let mut req = app
        .client
        .post(app.url("/api/v1/organizations"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json");
    req = if chunked {
        let stream = futures::stream::iter(
            big.into_bytes()
                .chunks(8192)
                .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                .collect::<Vec<_>>(),
        );
        req.body(reqwest::Body::wrap_stream(stream))
    } else {
        req.body(big)
    };
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 413);
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(json["error"]["code"], "payload_too_large");
    assert!(json["error"]["trace_id"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(app.get("/api/v1/organizations").await.body, json!([]));
}

async fn oversized_bodies_are_413(backend: Backend) {
    oversized_bodies_are_413_inner(backend, false).await;
    oversized_bodies_are_413_inner(backend, true).await;
}

async fn names_are_data_not_code(backend: Backend) {
    let app = spawn_app(backend).await;
    for name in ["Robert'); DROP TABLE organizations;--", "ünïcødé 組織", "100% _wild_"] {
        let o = app.create_org(name, None).await;
        assert_eq!(o["name"], name);
    }
    assert_eq!(app.get("/api/v1/organizations").await.body.as_array().unwrap().len(), 3);
    app.add_member("ünïcødé 組織", "a_b%c@example.com", "owner").await;
    app.add_member("ünïcødé 組織", "axbyc@example.com", "member").await;
    // LIKE wildcards in a search are literal.
    let a = app.get("/api/v1/users?email=a_b%25").await;
    assert_eq!(a.body.as_array().unwrap().len(), 1, "{}", a.body);
    let a = app
        .post("/api/v1/organizations", json!({ "name": "x".repeat(101) }))
        .await;
    assert_eq!(a.status, 400);
    let a = app.post("/api/v1/organizations", json!({ "name": "tab\there" })).await;
    assert_eq!(a.status, 400);
}
