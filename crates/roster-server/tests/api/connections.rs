use crate::helpers::{spawn_app, Backend, TestApp, ADMIN_TOKEN, SECRET_KEY};
use roster_server::secrets::Sealer;
use roster_store::{connections, Store};
use serde_json::{json, Value};

crate::on_both_backends!(
    saml_connection_crud,
    connection_rules,
    oidc_connection_keeps_its_secret,
    scim_tokens_hash_only_and_revoke_at_once
);

const CERT: &str = include_str!("../fixtures/idp-cert.pem");

async fn setup(app: &TestApp) {
    app.create_org("acme", None).await;
    app.post_ok(
        "/api/v1/organizations",
        json!({ "name": "acme-eu", "company": "acme" }),
        201,
    )
    .await;
    app.verified_domain("acme", "acme.test").await;
}

fn saml_body() -> Value {
    json!({
        "company": "acme", "name": "Okta", "protocol": "saml", "domains": ["acme.test"],
        "organizations": ["acme", "acme-eu"], "default_organization": "acme", "default_team": "everyone",
        "saml": { "idp_entity_id": "http://www.okta.com/exk1", "idp_sso_url": "https://acme.okta.com/app/sso/saml", "idp_certificates": [CERT] }
    })
}

async fn saml_connection_crud(backend: Backend) {
    let app = spawn_app(backend).await;
    setup(&app).await;
    let c = app.post_ok("/api/v1/connections", saml_body(), 201).await;
    let id = c["id"].as_str().unwrap();
    // Spec §1 defaults.
    assert_eq!(c["jit"], true);
    assert_eq!(c["scim"], false);
    assert_eq!(c["idp_initiated"], false);
    assert_eq!(c["configured"], true);
    assert_eq!(c["organizations"], json!(["acme", "acme-eu"]));
    assert_eq!(c["default_team"], "everyone");
    assert_eq!(c["sp_entity_id"], format!("{}/sso/saml/{id}/metadata", app.base));
    assert_eq!(c["acs_url"], format!("{}/sso/saml/{id}/acs", app.base));
    assert_eq!(c["metadata_url"], format!("{}/sso/saml/{id}/metadata", app.base));
    assert_eq!(c["login_url"], format!("{}/sso/saml/{id}/login", app.base));
    assert_eq!(c["scim_base_url"], format!("{}/scim/v2", app.base));
    assert!(c["redirect_uri"].is_null());

    assert_eq!(app.get("/api/v1/connections/okta").await.body["id"], id);
    assert_eq!(
        app.get("/api/v1/connections?company=acme")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let a = app
        .patch(
            &format!("/api/v1/connections/{id}"),
            json!({ "scim": true, "jit": false, "default_session_minutes": 480, "default_team": null }),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["jit"], false);
    assert_eq!(a.body["default_session_minutes"], 480);
    assert!(a.body["default_team"].is_null());
    assert_eq!(
        a.body["saml"]["idp_entity_id"], "http://www.okta.com/exk1",
        "a PATCH keeps what it does not name"
    );

    let a = app.post("/api/v1/connections", saml_body()).await;
    assert_eq!(a.status, 409);
    assert_eq!(a.error_code(), "connection_exists");
    // The domain stays in use while the connection serves it.
    assert_eq!(app.delete("/api/v1/companies/acme/domains/acme.test").await.status, 409);
    let events = app.audit(&format!("connection={id}")).await;
    assert_eq!(events[0]["action"], "connection.update");
    assert_eq!(events[0]["before"]["jit"], true);
    assert_eq!(events[0]["after"]["jit"], false);
    assert_eq!(events[1]["action"], "connection.create");
    assert_eq!(app.delete(&format!("/api/v1/connections/{id}")).await.status, 204);
    assert_eq!(app.get(&format!("/api/v1/connections/{id}")).await.status, 404);
    assert_eq!(app.audit("").await[0]["action"], "connection.delete");
}

async fn connection_rules(backend: Backend) {
    let app = spawn_app(backend).await;
    setup(&app).await;
    app.create_org("other", None).await;
    let cases = [
        (json!({ "jit": false }), 409, "jit_requires_scim"),
        (json!({ "domains": ["unverified.test"] }), 409, "domain_not_verified"),
        (json!({ "organizations": ["other"] }), 409, "foreign_organization"),
        (json!({ "default_organization": "nope" }), 404, "not_found"),
        (json!({ "protocol": "ws-fed" }), 400, "invalid_protocol"),
        (json!({ "default_session_minutes": 0 }), 400, "invalid_session_minutes"),
        (
            json!({ "saml": { "idp_sso_url": "javascript:alert(1)" } }),
            400,
            "invalid_url",
        ),
        (
            json!({ "saml": { "idp_certificates": ["not a certificate"] } }),
            400,
            "invalid_certificate",
        ),
        (
            json!({ "oidc": { "issuer": "https://idp.test", "client_id": "x" } }),
            400,
            "invalid_settings",
        ),
        (json!({ "surprise": true }), 400, "invalid_body"),
    ];
    for (patch, status, code) in cases {
        let mut body = saml_body();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let a = app.post("/api/v1/connections", body).await;
        assert_eq!(a.status.as_u16(), status, "{patch}: {}", a.body);
        assert_eq!(a.error_code(), code, "{patch}");
    }
    assert_eq!(
        app.get("/api/v1/connections").await.body,
        json!([]),
        "no refused connection was stored"
    );
    let c = app.post_ok("/api/v1/connections", saml_body(), 201).await;
    // A domain serves one connection only.
    let mut second = saml_body();
    second["name"] = json!("Entra");
    let a = app.post("/api/v1/connections", second).await;
    assert_eq!(a.error_code(), "domain_in_use");
    // J8 applies to PATCH as well.
    let a = app
        .patch(
            &format!("/api/v1/connections/{}", c["id"].as_str().unwrap()),
            json!({ "jit": false }),
        )
        .await;
    assert_eq!(a.error_code(), "jit_requires_scim");
}

async fn oidc_connection_keeps_its_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    setup(&app).await;
    let body = json!({
        "company": "acme", "name": "Google", "protocol": "oidc", "domains": ["acme.test"], "default_organization": "acme",
        "oidc": { "issuer": "https://accounts.google.com", "client_id": "client-1", "client_secret": "s3cret-value" }
    });
    let c = app.post_ok("/api/v1/connections", body, 201).await;
    let id = c["id"].as_str().unwrap();
    assert_eq!(
        c["oidc"],
        json!({ "issuer": "https://accounts.google.com", "client_id": "client-1", "client_secret_set": true,
                "scopes": "openid email profile", "client_auth": "client_secret_basic", "use_userinfo": true,
                "graph_groups": false, "required_claims": {} })
    );
    // Settings an OIDC sign-in could not work with are refused with what to do instead.
    for (oidc, code, says) in [
        (
            json!({ "issuer": "https://login.microsoftonline.com/common/v2.0", "client_id": "c" }),
            "invalid_issuer",
            "<tenant id>/v2.0",
        ),
        (
            json!({ "issuer": "http://idp.example", "client_id": "c" }),
            "invalid_issuer",
            "https",
        ),
        (
            json!({ "issuer": "https://accounts.google.com", "client_id": "c", "scopes": "email profile" }),
            "invalid_scopes",
            "openid",
        ),
        (
            json!({ "issuer": "https://accounts.google.com", "client_id": "c", "client_auth": "private_key_jwt" }),
            "invalid_json",
            "",
        ),
    ] {
        let a = app
            .patch(&format!("/api/v1/connections/{id}"), json!({ "oidc": oidc }))
            .await;
        assert_eq!(a.status, 400, "{oidc}: {}", a.body);
        assert!(a.error_code() == code || code == "invalid_json", "{oidc}: {}", a.body);
        assert!(
            a.body["error"]["message"].as_str().unwrap().contains(says),
            "{}",
            a.body
        );
    }
    assert_eq!(c["redirect_uri"], format!("{}/sso/oidc/{id}/callback", app.base));
    assert!(c["acs_url"].is_null());
    assert!(
        !c.to_string().contains("s3cret-value"),
        "the client secret is never returned"
    );
    let a = app
        .patch(
            &format!("/api/v1/connections/{id}"),
            json!({ "oidc": { "issuer": "https://accounts.google.com", "client_id": "client-2" } }),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["oidc"]["client_id"], "client-2");
    assert_eq!(
        a.body["oidc"]["client_secret_set"], true,
        "a PATCH without the secret keeps it"
    );

    // At rest the secret is only sealed, and it opens to what the admin sent.
    let store = Store::connect(&app.db.url, Default::default()).await.unwrap();
    let stored_secret = |store: &Store| {
        let store = store.clone();
        async move {
            let all = store
                .read(|db| Box::pin(async move { connections::oidc_client_secrets(db).await }))
                .await
                .unwrap();
            assert_eq!(all.len(), 1);
            all[0].1.clone()
        }
    };
    let key = Sealer::from_base64(SECRET_KEY).unwrap();
    let sealed = stored_secret(&store).await;
    assert!(
        Sealer::is_sealed(&sealed) && !sealed.contains("s3cret-value"),
        "{sealed}"
    );
    assert_eq!(key.open(&sealed).unwrap(), "s3cret-value");
    let too_long = app
        .patch(
            &format!("/api/v1/connections/{id}"),
            json!({ "oidc": { "issuer": "https://accounts.google.com", "client_id": "c", "client_secret": "x".repeat(1025) } }),
        )
        .await;
    assert_eq!(too_long.status, 400);
    assert_eq!(too_long.body["error"]["code"], "invalid_client_secret");

    // One stored in the clear (before sealing existed) is sealed at the next start.
    let cid = id.to_string();
    store
        .write(move |db| Box::pin(async move { connections::set_oidc_client_secret(db, &cid, "s3cret-value").await }))
        .await
        .unwrap();
    let mut config = roster_server::config::Config::new(app.db.url.clone(), app.base.clone());
    config.admin_token = Some(ADMIN_TOKEN.into());
    config.secret_key = Some(SECRET_KEY.into());
    let (state, _) = roster_server::build_state(config, roster_server::system_clock())
        .await
        .unwrap();
    state.store.close().await;
    let sealed = stored_secret(&store).await;
    assert!(key.sealed_by_me(&sealed), "{sealed}");
    assert_eq!(key.open(&sealed).unwrap(), "s3cret-value");
    store.close().await;
}

async fn scim_tokens_hash_only_and_revoke_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    setup(&app).await;
    let c = app.post_ok("/api/v1/connections", saml_body(), 201).await;
    let id = c["id"].as_str().unwrap();
    let t = app
        .post_ok(&format!("/api/v1/connections/{id}/scim-tokens"), json!({}), 201)
        .await;
    let secret = t["token"].as_str().unwrap().to_string();
    assert_eq!(t["scim_base_url"], format!("{}/scim/v2", app.base));
    let listed = app.get(&format!("/api/v1/connections/{id}/scim-tokens")).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert!(!listed.body.to_string().contains(&secret));

    let store = roster_store::Store::connect(&app.db.url, Default::default())
        .await
        .unwrap();
    let (s, cid) = (secret.clone(), id.to_string());
    let found = store
        .read(move |db| Box::pin(async move { roster_store::tokens::verify_scim(db, &s).await }))
        .await
        .unwrap();
    assert_eq!(found.map(|(_, c)| c).as_deref(), Some(cid.as_str()));
    let s = secret.clone();
    let plain: i64 = store
        .read(move |db| {
            Box::pin(async move {
                roster_store::db::query_scalar::<i64>(
                    "SELECT COUNT(*) FROM scim_tokens WHERE secret_hash = $1 OR secret_hash LIKE '%' || $2 || '%'",
                )
                .bind(s.clone())
                // The random part: everything after `scim_<id>_` (it may hold `_` itself).
                .bind(s.splitn(3, '_').nth(2).unwrap_or_default().to_string())
                .fetch_one(db)
                .await
            })
        })
        .await
        .unwrap();
    assert_eq!(plain, 0, "the secret is not stored");
    let tampered = format!("{}x", &secret[..secret.len() - 1]);
    let found = store
        .read(move |db| Box::pin(async move { roster_store::tokens::verify_scim(db, &tampered).await }))
        .await
        .unwrap();
    assert_eq!(found, None);

    let token_id = t["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/v1/connections/{id}/scim-tokens/{token_id}"))
            .await
            .status,
        204
    );
    let s = secret.clone();
    let found = store
        .read(move |db| Box::pin(async move { roster_store::tokens::verify_scim(db, &s).await }))
        .await
        .unwrap();
    assert_eq!(found, None, "a revoked token stops working at once");
    assert_eq!(
        app.delete(&format!("/api/v1/connections/{id}/scim-tokens/{token_id}"))
            .await
            .status,
        404
    );
    store.close().await;
}
