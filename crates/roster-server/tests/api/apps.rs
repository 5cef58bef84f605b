//! Apps (OAuth clients of Roster's OpenID Provider) registered through the admin API:
//! the secret shown once and kept only as a hash, rotation, changes audited, and
//! registrations that could be abused refused.

use crate::helpers::{spawn_app, Backend, TestApp};
use roster_server::secrets::Sealer;
use roster_store::{apps, signing_keys, Store};
use serde_json::{json, Value};

crate::on_both_backends!(
    apps_are_registered_with_a_secret_shown_once,
    registrations_that_could_be_abused_are_refused,
    signing_keys_are_published_sealed_and_rotated_with_an_overlap,
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

/// The `kid`s `/oauth2/jwks` publishes, checking each is a public signing key.
async fn published_kids(app: &TestApp) -> Vec<String> {
    let resp = app.client.get(app.url("/oauth2/jwks")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let body: Value = resp.json().await.unwrap();
    let keys = body["keys"].as_array().unwrap();
    for k in keys {
        assert_eq!(k["use"], "sig", "{k}");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(k.get(private).is_none(), "a private part in {k}");
        }
    }
    let mut algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    algs.sort_unstable();
    algs.dedup();
    assert_eq!(algs, ["ES256", "EdDSA", "RS256"]);
    keys.iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

async fn signing_keys_are_published_sealed_and_rotated_with_an_overlap(backend: Backend) {
    let app = spawn_app(backend).await;
    // Made on first use, one per algorithm, the same on every read.
    let first = published_kids(&app).await;
    assert_eq!(first.len(), 3);
    assert_eq!(published_kids(&app).await, first);
    // Private keys only sealed at rest, and they open with the server's key.
    let store = Store::connect(&app.db.url, Default::default()).await.unwrap();
    let stored = store
        .read(|db| Box::pin(async move { signing_keys::published(db, 0, 0).await }))
        .await
        .unwrap();
    store.close().await;
    let sealer = Sealer::from_base64(crate::helpers::SECRET_KEY).unwrap();
    for k in &stored {
        assert!(Sealer::is_sealed(&k.private_key), "{}", k.id);
        assert!(sealer.open(&k.private_key).is_ok());
    }
    // A rotation needs the admin token.
    let resp = app
        .client
        .post(app.url("/api/v1/oauth2/keys/rotate"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let r = app.post_ok("/api/v1/oauth2/keys/rotate", json!({}), 200).await;
    let mut retired: Vec<String> = serde_json::from_value(r["retired"].clone()).unwrap();
    let active: Vec<String> = serde_json::from_value(r["active"].clone()).unwrap();
    retired.sort();
    let mut old = first.clone();
    old.sort();
    assert_eq!(retired, old);
    // Both generations are published during the overlap, then only the new one.
    let during = published_kids(&app).await;
    assert_eq!(during.len(), 6);
    assert!(active.iter().chain(&first).all(|k| during.contains(k)));
    app.clock.advance_ms(roster_server::signing_keys::OVERLAP_MS + 1);
    let mut after = published_kids(&app).await;
    after.sort();
    let mut expected = active.clone();
    expected.sort();
    assert_eq!(after, expected);
    let actions: Vec<String> = app
        .audit("limit=100")
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .filter(|a| a.starts_with("signing_key."))
        .collect();
    assert_eq!(actions.iter().filter(|a| *a == "signing_key.retire").count(), 3);
    assert_eq!(actions.iter().filter(|a| *a == "signing_key.create").count(), 6);
}
