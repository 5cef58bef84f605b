//! Limits on what anyone can reach without a credential, on both backends: sign-in
//! requests per client and per connection, failed token authentications per client,
//! with 429 and Retry-After, and X-Forwarded-For believed only from a trusted proxy.

use crate::helpers::{spawn_app_with, Backend, Options, TestApp, ADMIN_TOKEN};
use crate::scim::setup;
use reqwest::Method;
use serde_json::Value;

crate::on_both_backends!(
    sign_in_requests_are_limited_per_client,
    sign_in_requests_are_limited_per_connection,
    failed_authentications_are_limited_per_client,
    forwarded_clients_count_only_behind_a_trusted_proxy,
    requests_in_flight_are_capped,
);

/// `GET /sso/start` as the client `forwarded_for` (when given), through the proxy.
async fn start(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(app.url("/sso/start?email=jo@unknown.test"));
    if let Some(f) = forwarded_for {
        req = req.header("x-forwarded-for", f);
    }
    req.send().await.unwrap()
}

fn assert_too_many(resp: &reqwest::Response) {
    assert_eq!(resp.status(), 429);
    let wait: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After: {wait}");
}

async fn sign_in_requests_are_limited_per_client(backend: Backend) {
    let app = spawn_app_with(
        backend,
        Options {
            sso_requests_per_minute: 3,
            ..Options::default()
        },
    )
    .await;
    for _ in 0..3 {
        assert_eq!(
            start(&app, None).await.status(),
            404,
            "no connection serves that domain"
        );
    }
    let refused = start(&app, None).await;
    assert_too_many(&refused);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_requests");
    // Authenticated endpoints are not held to it.
    assert_eq!(app.get("/api/v1/organizations").await.status, 200);
}

async fn sign_in_requests_are_limited_per_connection(backend: Backend) {
    let app = spawn_app_with(
        backend,
        Options {
            sso_requests_per_connection_per_minute: 2,
            ..Options::default()
        },
    )
    .await;
    let login = |id: &'static str| app.client.get(app.url(&format!("/sso/saml/{id}/login"))).send();
    let (busy, other) = (
        "0b1e8c2a-0000-4000-8000-000000000001",
        "0b1e8c2a-0000-4000-8000-000000000002",
    );
    for _ in 0..2 {
        assert_eq!(login(busy).await.unwrap().status(), 404, "no such connection");
    }
    let refused = login(busy).await.unwrap();
    assert_too_many(&refused);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_requests");
    // The same client is still served for another connection and for /sso/start.
    assert_eq!(login(other).await.unwrap().status(), 404);
    assert_eq!(start(&app, None).await.status(), 404);
}

async fn failed_authentications_are_limited_per_client(backend: Backend) {
    let app = spawn_app_with(
        backend,
        Options {
            auth_failures_per_minute: 2,
            ..Options::default()
        },
    )
    .await;
    let (_, scim_token) = setup(&app, "acme", "acme.example").await;
    let wrong = "roster_admin_wrong_token_0123456789";
    for _ in 0..2 {
        let a = app
            .request(Method::GET, "/api/v1/organizations", Some(wrong), None)
            .await;
        assert_eq!(a.status, 401, "{}", a.body);
    }
    let a = app
        .request(Method::GET, "/api/v1/organizations", Some(wrong), None)
        .await;
    assert_eq!(a.status, 429, "{}", a.body);
    assert_eq!(a.body["error"]["code"], "too_many_requests");
    // A valid token still works: the failures of others never lock it out.
    assert_eq!(
        app.request(Method::GET, "/api/v1/organizations", Some(ADMIN_TOKEN), None)
            .await
            .status,
        200
    );
    // SCIM shares the budget and answers in its own format.
    let scim = |token: &str| {
        app.client
            .get(app.url("/scim/v2/Users"))
            .bearer_auth(token.to_string())
            .send()
    };
    let refused = scim("scim_wrong").await.unwrap();
    assert_too_many(&refused);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["status"], "429");
    assert_eq!(scim(&scim_token).await.unwrap().status(), 200);
}

async fn forwarded_clients_count_only_behind_a_trusted_proxy(backend: Backend) {
    // Behind a trusted proxy (the tests' loopback peer), each forwarded client has its own
    // budget.
    let trusted = spawn_app_with(
        backend,
        Options {
            sso_requests_per_minute: 2,
            trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
            ..Options::default()
        },
    )
    .await;
    for i in 0..5 {
        let client = format!("203.0.113.{i}");
        assert_eq!(start(&trusted, Some(&client)).await.status(), 404, "{client}");
    }
    assert_eq!(start(&trusted, Some("198.51.100.9")).await.status(), 404);
    assert_eq!(start(&trusted, Some("198.51.100.9")).await.status(), 404);
    assert_too_many(&start(&trusted, Some("198.51.100.9")).await);
    drop(trusted);

    // From an untrusted peer the header is ignored: one client, one budget.
    let direct = spawn_app_with(
        backend,
        Options {
            sso_requests_per_minute: 2,
            ..Options::default()
        },
    )
    .await;
    assert_eq!(start(&direct, Some("203.0.113.1")).await.status(), 404);
    assert_eq!(start(&direct, Some("203.0.113.2")).await.status(), 404);
    assert_too_many(&start(&direct, Some("203.0.113.3")).await);
}

/// Past the cap on requests in flight, the server answers 503 with Retry-After at once
/// instead of queueing; health checks are always answered. A request whose body is slow
/// to come holds its place meanwhile.
async fn requests_in_flight_are_capped(backend: Backend) {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app_with(
        backend,
        Options {
            max_in_flight: 1,
            ..Options::default()
        },
    )
    .await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let head = format!(
        "POST /api/v1/organizations HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    );
    // A slow client sends its headers and the start of its body, then waits. Once the
    // server reads its body it holds the one place (should a probe get there first, the
    // slow client is refused instead: it tries again).
    let mut busy = None;
    let mut slow = None;
    for _ in 0..20 {
        let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
        conn.write_all(head.as_bytes()).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let r = app
            .client
            .get(app.url("/api/v1/organizations"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        if r.status() == 503 {
            busy = Some(r);
            slow = Some(conn);
            break;
        }
    }
    let busy = busy.expect("a second request is refused while the first holds the place");
    assert_eq!(busy.headers()["retry-after"], "1");
    let body: Value = busy.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);
    // The slow client goes away: its place is free again.
    drop(slow);
    let mut ok = false;
    for _ in 0..50 {
        if app.get("/api/v1/organizations").await.status == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(ok, "the place was given back");
}
