use crate::helpers::{spawn_app, Backend, ADMIN_TOKEN};
use reqwest::Method;
use serde_json::json;

crate::on_both_backends!(
    missing_or_wrong_token_is_401,
    minted_tokens_work_and_revocation_is_immediate
);

async fn missing_or_wrong_token_is_401(backend: Backend) {
    let app = spawn_app(backend).await;
    for token in [
        None,
        Some("wrong"),
        Some(&ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1]),
        Some(""),
    ] {
        let a = app.request(Method::GET, "/api/v1/organizations", token, None).await;
        assert_eq!(a.status, 401, "{token:?}");
        assert_eq!(a.error_code(), "unauthorized");
    }
    let a = app
        .client
        .get(app.url("/api/v1/organizations"))
        .header("authorization", format!("Basic {ADMIN_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 401);
    // A write without a valid token changes nothing.
    let a = app
        .request(
            Method::POST,
            "/api/v1/organizations",
            Some("wrong"),
            Some(json!({ "name": "x" })),
        )
        .await;
    assert_eq!(a.status, 401);
    assert_eq!(app.get("/api/v1/organizations").await.body, json!([]));
    // Health endpoints need no token.
    assert_eq!(app.request(Method::GET, "/healthz", None, None).await.status, 200);
    assert_eq!(app.request(Method::GET, "/readyz", None, None).await.status, 200);
}

async fn minted_tokens_work_and_revocation_is_immediate(backend: Backend) {
    let app = spawn_app(backend).await;
    let t = app
        .post_ok("/api/v1/admin-tokens", json!({ "name": "terraform" }), 201)
        .await;
    let token = t["token"].as_str().unwrap().to_string();
    let a = app
        .request(Method::GET, "/api/v1/organizations", Some(&token), None)
        .await;
    assert_eq!(a.status, 200);
    let listed = app.get("/api/v1/admin-tokens").await;
    assert_eq!(listed.body.as_array().unwrap().len(), 2, "bootstrap + terraform");
    assert!(!listed.body.to_string().contains(&token));
    // The change is attributed to the token that made it.
    let a = app
        .request(
            Method::POST,
            "/api/v1/organizations",
            Some(&token),
            Some(json!({ "name": "acme" })),
        )
        .await;
    assert_eq!(a.status, 201);
    let events = app.audit("organization=acme").await;
    assert_eq!(events[0]["actor"]["id"], t["id"]);

    assert_eq!(
        app.delete(&format!("/api/v1/admin-tokens/{}", t["id"].as_str().unwrap()))
            .await
            .status,
        204
    );
    let a = app
        .request(Method::GET, "/api/v1/organizations", Some(&token), None)
        .await;
    assert_eq!(a.status, 401, "revocation takes effect at once");
    assert_eq!(
        app.get("/api/v1/organizations").await.status,
        200,
        "other tokens keep working"
    );
}
