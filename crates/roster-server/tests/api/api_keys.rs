//! Credentials apps read with, and can do nothing else with: API keys limited to scopes
//! and organizations, and an app's own `client_credentials` token, on the events feed.

use crate::helpers::{spawn_app, Backend, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

crate::on_both_backends!(api_keys_and_app_tokens_read_what_they_were_given_and_nothing_else);

async fn feed_with(app: &TestApp, credential: &str, query: &str) -> (u16, Value) {
    let a = app
        .request(Method::GET, &format!("/api/v1/events?{query}"), Some(credential), None)
        .await;
    (a.status.as_u16(), a.body)
}

fn team_names(body: &Value) -> Vec<&str> {
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "team.created")
        .map(|e| e["data"]["state"]["name"].as_str().unwrap())
        .collect()
}

async fn api_keys_and_app_tokens_read_what_they_were_given_and_nothing_else(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_org("acme", None).await;
    app.create_org("other", None).await;
    app.post_ok("/api/v1/organizations/acme/teams", json!({"name": "eng"}), 201)
        .await;
    app.post_ok("/api/v1/organizations/other/teams", json!({"name": "ops"}), 201)
        .await;

    // A key for acme's events: acme's only; the key shown once, kept as a hash.
    let made = app
        .post_ok(
            "/api/v1/api-keys",
            json!({"scopes": ["events:read"], "organizations": ["acme"]}),
            201,
        )
        .await;
    let key = made["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("rk_"), "{made}");
    let listed = app.get("/api/v1/api-keys").await;
    assert!(!listed.body.to_string().contains(&key));
    let mut names = Vec::new();
    for _ in 0..100 {
        let (status, body) = feed_with(&app, &key, "").await;
        assert_eq!(status, 200, "{body}");
        names = team_names(&body).into_iter().map(str::to_string).collect();
        if !names.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(names, ["eng"], "acme's only");
    // It can do nothing else.
    let a = app
        .request(Method::GET, "/api/v1/organizations", Some(&key), None)
        .await;
    assert_eq!(a.status, 401);
    let a = app
        .request(
            Method::POST,
            "/api/v1/organizations",
            Some(&key),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(a.status, 401);

    // Without the scope: 403; revoked: 401 at once.
    let dir = app
        .post_ok("/api/v1/api-keys", json!({"scopes": ["directory:read"]}), 201)
        .await;
    let (status, body) = feed_with(&app, dir["key"].as_str().unwrap(), "").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("insufficient_scope"))
    );
    assert_eq!(
        app.delete(&format!("/api/v1/api-keys/{}", made["id"].as_str().unwrap()))
            .await
            .status,
        204
    );
    assert_eq!(feed_with(&app, &key, "").await.0, 401);
    let a = app.post("/api/v1/api-keys", json!({"scopes": ["admin"]})).await;
    assert_eq!((a.status.as_u16(), a.error_code()), (400, "invalid_scope".to_string()));

    // An app's own token (client_credentials): its company's events.
    app.post_ok("/api/v1/organizations", json!({"name": "elsewhere"}), 201)
        .await;
    let created = app
        .post_ok(
            "/api/v1/apps",
            json!({"company": "acme", "name": "Sync", "redirect_uris": ["https://sync.acme.example/cb"]}),
            201,
        )
        .await;
    let (id, secret) = (
        created["client_id"].as_str().unwrap(),
        created["client_secret"].as_str().unwrap(),
    );
    let token = |scope: &'static str| {
        let app = &app;
        async move {
            let resp = app
                .client
                .post(app.url("/oauth2/token"))
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials"), ("scope", scope)])
                .send()
                .await
                .unwrap();
            let body: Value = resp.json().await.unwrap();
            body["access_token"].as_str().unwrap().to_string()
        }
    };
    let events_token = token("events:read").await;
    let (status, body) = feed_with(&app, &events_token, "types=team.created").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(team_names(&body), ["eng"], "acme's company only: {body}");
    let (status, _) = feed_with(&app, &token("directory:read").await, "").await;
    assert_eq!(status, 403);
    let a = app
        .request(Method::GET, "/api/v1/apps", Some(&events_token), None)
        .await;
    assert_eq!(a.status, 401, "an app's token is no admin token");
}
