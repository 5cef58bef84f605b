//! Apps (OAuth clients of Roster's OpenID Provider) registered through the admin API:
//! the secret shown once and kept only as a hash, rotation, changes audited, and
//! registrations that could be abused refused.

use crate::helpers::{spawn_app, Backend, TestApp};
use roster_store::{apps, Store};
use serde_json::{json, Value};

crate::on_both_backends!(
    apps_are_registered_with_a_secret_shown_once,
    registrations_that_could_be_abused_are_refused,
);

fn app_body() -> Value {
    json!({"company": "acme", "name": "Dashboard", "redirect_uris": ["https://dash.acme.example/callback"],
           "post_logout_redirect_uris": ["https://dash.acme.example/"]})
}

/// Whether `secret` opens app `id`, read from the database itself.
async fn opens(app: &TestApp, id: &str, secret: &str) -> bool {
    let store = Store::connect(&app.db.url, Default::default()).await.unwrap();
    let (id, secret) = (id.to_string(), secret.to_string());
    let ok = store
        .read(move |db| Box::pin(async move { apps::check_secret(db, &id, &secret).await }))
        .await
        .unwrap();
    store.close().await;
    ok
}

async fn apps_are_registered_with_a_secret_shown_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_org("acme", None).await;
    app.post_ok(
        "/api/v1/organizations",
        json!({"name": "acme-eu", "company": "acme"}),
        201,
    )
    .await;
    let created = app.post_ok("/api/v1/apps", app_body(), 201).await;
    let id = created["client_id"].as_str().unwrap().to_string();
    let secret = created["client_secret"].as_str().unwrap().to_string();
    assert!(id.starts_with("app_") && secret.len() >= 43, "{created}");
    assert_eq!(created["client_type"], "confidential");
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(created["id_token_signed_response_alg"], "RS256");
    assert_eq!(created["organizations"], json!([]), "all of the company's");
    // Never shown again; kept only as a hash that the secret opens.
    let got = app.get(&format!("/api/v1/apps/{id}")).await;
    assert_eq!(got.status, 200);
    assert!(got.body.get("client_secret").is_none() && got.body["client_secret_set"] == true);
    assert!(!got.body.to_string().contains(&secret));
    assert!(opens(&app, &id, &secret).await);
    assert!(!opens(&app, &id, "not-the-secret").await);
    assert_eq!(
        app.get("/api/v1/apps?company=acme")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Rotation: the new secret once, the old one stops at once.
    let rotated = app
        .post_ok(&format!("/api/v1/apps/{id}/rotate-secret"), json!({}), 200)
        .await;
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert!(opens(&app, &id, new_secret).await);
    assert!(!opens(&app, &id, &secret).await);

    // A PATCH changes what it names and keeps the rest.
    let patched = app
        .patch(
            &format!("/api/v1/apps/{id}"),
            json!({"redirect_uris": ["https://dash.acme.example/cb2", "http://127.0.0.1:3000/cb"],
                   "organizations": ["acme-eu"], "id_token_signed_response_alg": "EdDSA"}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["organizations"], json!(["acme-eu"]));
    assert_eq!(patched.body["id_token_signed_response_alg"], "EdDSA");
    assert_eq!(
        patched.body["post_logout_redirect_uris"],
        json!(["https://dash.acme.example/"])
    );
    assert!(opens(&app, &id, new_secret).await, "a PATCH keeps the secret");

    assert_eq!(app.delete(&format!("/api/v1/apps/{id}")).await.status, 204);
    assert_eq!(app.get(&format!("/api/v1/apps/{id}")).await.status, 404);
    let actions: Vec<String> = app
        .audit("limit=100")
        .await
        .iter()
        .filter(|e| e["object"]["kind"] == "app")
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(actions, ["app.delete", "app.update", "app.rotate_secret", "app.create"]);
    let events = app.audit("limit=100").await;
    assert!(
        !json!(events).to_string().contains(new_secret),
        "no secret in the audit log"
    );
}

async fn registrations_that_could_be_abused_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_org("acme", None).await;
    app.create_org("globex", None).await;
    for (change, code) in [
        (json!({"redirect_uris": ["https://dash.acme.example/*"]}), "invalid_app"),
        (
            json!({"redirect_uris": ["http://dash.acme.example/callback"]}),
            "invalid_app",
        ),
        (
            json!({"redirect_uris": ["https://dash.acme.example/cb#x"]}),
            "invalid_app",
        ),
        (json!({"redirect_uris": []}), "invalid_app"),
        (json!({"redirect_uris": ["/callback"]}), "invalid_app"),
        (
            json!({"post_logout_redirect_uris": ["javascript:alert(1)"]}),
            "invalid_app",
        ),
        (
            json!({"backchannel_logout_uri": "http://10.0.0.1/logout"}),
            "invalid_app",
        ),
        (json!({"token_endpoint_auth_method": "none"}), "invalid_app"),
        (json!({"id_token_signed_response_alg": "HS256"}), "invalid_app"),
        (
            json!({"client_type": "public", "token_endpoint_auth_method": "client_secret_basic"}),
            "invalid_app",
        ),
        (json!({"organizations": ["globex"]}), "not_found"),
        (json!({"grant_types": ["password"]}), "invalid_json"),
    ] {
        let mut body = app_body();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let a = app.post("/api/v1/apps", body).await;
        assert_eq!(a.status.as_u16() / 100, 4, "{change}: {}", a.body);
        assert!(a.error_code() == code || code == "invalid_json", "{change}: {}", a.body);
    }
    assert_eq!(app.get("/api/v1/apps").await.body, json!([]), "nothing was registered");

    // A public app has no secret, and none to rotate.
    let mut body = app_body();
    body["client_type"] = json!("public");
    body["redirect_uris"] = json!(["com.acme.dash:/callback", "http://127.0.0.1/cb"]);
    let public = app.post_ok("/api/v1/apps", body, 201).await;
    assert!(public.get("client_secret").is_none(), "{public}");
    assert_eq!(public["token_endpoint_auth_method"], "none");
    assert_eq!(public["client_secret_set"], false);
    let id = public["client_id"].as_str().unwrap();
    let a = app.post(&format!("/api/v1/apps/{id}/rotate-secret"), json!({})).await;
    assert_eq!(a.error_code(), "public_app");
    // One name per company.
    let a = app.post("/api/v1/apps", app_body()).await;
    assert_eq!(a.error_code(), "app_exists");
}
