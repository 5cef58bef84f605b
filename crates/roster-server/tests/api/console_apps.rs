//! The console's apps and webhooks pages over HTTP: an app registered with its secret
//! shown once (and working), endpoints registered, turned off and on, with their
//! delivery log; an owner sees their company's apps and connections, and no webhooks.

use crate::console::{console_cookie, csrf, field, get, operator, post};
use crate::helpers::{spawn_app, Backend};
use crate::oauth2::sign_in_with_groups;
use crate::saml::{setup, IDP_ENTITY};
use crate::webhooks::Receiver;
use roster_testidp::Idp;
use serde_json::{json, Value};

crate::on_both_backends!(
    apps_and_webhooks_are_managed_from_their_pages,
    an_owner_sees_their_company_apps_and_connections_and_no_webhooks,
);

async fn apps_and_webhooks_are_managed_from_their_pages(backend: Backend) {
    let app = crate::webhooks::app_on_real_time(backend).await;
    app.create_org("acme", None).await;
    let cookie = operator(&app).await;
    let page = get(&app, "/admin/apps", &cookie).await;
    assert_eq!(page.status, 200);
    let token = csrf(&page.body);

    // An app: its client id and secret, shown once; the secret works.
    let p = post(
        &app,
        "/admin/apps",
        &cookie,
        &[
            ("company", "acme"),
            ("name", "Wiki"),
            ("client_type", "confidential"),
            (
                "redirect_uris",
                "https://wiki.acme.example/cb\nhttps://wiki.acme.example/cb2",
            ),
            ("_csrf", &token),
        ],
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.body);
    let (id, secret) = (field(&p.body, "v-client"), field(&p.body, "v-secret"));
    let listed = app.get("/api/v1/apps").await.body;
    assert_eq!(listed[0]["client_id"], id.as_str());
    assert_eq!(
        listed[0]["redirect_uris"],
        json!(["https://wiki.acme.example/cb", "https://wiki.acme.example/cb2"])
    );
    let token_answer = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "directory:read")])
        .send()
        .await
        .unwrap();
    assert_eq!(token_answer.status().as_u16(), 200);
    let again = get(&app, "/admin/apps", &cookie).await;
    assert!(again.body.contains(&id) && !again.body.contains(&secret), "shown once");
    // The registration rules hold: the reason, on the page.
    let p = post(
        &app,
        "/admin/apps",
        &cookie,
        &[
            ("company", "acme"),
            ("name", "Bad"),
            ("client_type", "confidential"),
            ("redirect_uris", "https://bad.example/cb#fragment"),
            ("_csrf", &token),
        ],
    )
    .await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("role=\"alert\""), "{}", p.body);
    assert_eq!(app.get("/api/v1/apps").await.body.as_array().unwrap().len(), 1);

    // A webhook endpoint: its secret shown once; it receives, and the log shows it.
    let mut receiver = Receiver::start().await;
    let p = post(
        &app,
        "/admin/webhooks",
        &cookie,
        &[("url", &receiver.url), ("events", "team.created"), ("_csrf", &token)],
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.body);
    let whsec = field(&p.body, "v-whsec");
    assert!(whsec.starts_with("whsec_"));
    receiver.command(&format!("secret {whsec}")).await;
    let hooks = app.get("/api/v1/webhooks").await.body;
    assert_eq!(hooks[0]["events"], json!(["team.created"]), "{hooks}");
    let hook = hooks[0]["id"].as_str().unwrap().to_string();
    app.post_ok("/api/v1/organizations/acme/teams", json!({"name": "eng"}), 201)
        .await;
    // Verified by the Standard Webhooks library with the secret the page showed.
    let delivered = receiver.next().await;
    assert_eq!(delivered["verified"], true, "{delivered}");
    let mut page = get(&app, "/admin/webhooks", &cookie).await;
    for _ in 0..100 {
        if page.body.contains("<td>team.created</td>") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        page = get(&app, "/admin/webhooks", &cookie).await;
    }
    assert!(page.body.contains("<td>team.created</td>"), "{}", page.body);
    assert!(page.body.contains("delivering"), "{}", page.body);
    // Off, and on again.
    let p = post(
        &app,
        &format!("/admin/webhooks/{hook}/enabled"),
        &cookie,
        &[("enabled", "off"), ("_csrf", &token)],
    )
    .await;
    assert!(p.body.contains("is off."), "{}", p.body);
    assert_eq!(
        app.get(&format!("/api/v1/webhooks/{hook}")).await.body["enabled"],
        false
    );
    let p = post(
        &app,
        &format!("/admin/webhooks/{hook}/enabled"),
        &cookie,
        &[("enabled", "on"), ("_csrf", &token)],
    )
    .await;
    assert!(p.body.contains("is on again."), "{}", p.body);
    // A URL Roster would not send to: the reason.
    let p = post(
        &app,
        "/admin/webhooks",
        &cookie,
        &[("url", "ftp://hooks.example/in"), ("_csrf", &token)],
    )
    .await;
    assert!(p.body.contains("role=\"alert\""), "{}", p.body);
    let audit: Vec<Value> = app.audit("limit=200").await;
    assert!(
        audit
            .iter()
            .any(|e| e["action"] == "webhook.disable" && e["actor"]["kind"] == "admin"),
        "{audit:?}"
    );
}

async fn an_owner_sees_their_company_apps_and_connections_and_no_webhooks(backend: Backend) {
    let app = spawn_app(backend).await;
    let idp = Idp::rsa(IDP_ENTITY);
    let conn = setup(&app, &idp, json!({})).await;
    app.add_member("acme", "ann@acme.test", "owner").await;
    app.create_org("other", None).await;
    for (company, name) in [("acme", "Mine"), ("other", "Theirs")] {
        app.post_ok(
            "/api/v1/apps",
            json!({"company": company, "name": name, "redirect_uris": ["https://app.example/cb"]}),
            201,
        )
        .await;
    }
    let (_, session) = sign_in_with_groups(
        &app,
        &idp,
        &conn,
        &format!("/sso/saml/{conn}/login?return_to=%2Fadmin%2Fsso%2Fdone"),
        "ann@acme.test",
        &[],
    )
    .await;
    let p = get(&app, "/admin/sso/done", &session).await;
    let cookie = console_cookie(&p);
    let page = get(&app, "/admin/apps", &cookie).await;
    assert!(
        page.body.contains("Mine") && !page.body.contains("Theirs"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("/admin/webhooks"), "no webhooks in the navigation");
    let token = csrf(&page.body);
    // An app they register is their company's, whatever company the form names.
    let p = post(
        &app,
        "/admin/apps",
        &cookie,
        &[
            ("company", "other"),
            ("name", "Planted"),
            ("client_type", "public"),
            ("redirect_uris", "https://planted.example/cb"),
            ("_csrf", &token),
        ],
    )
    .await;
    assert_eq!(p.status, 200);
    let apps = app.get("/api/v1/apps?company=acme").await.body;
    assert!(
        apps.as_array().unwrap().iter().any(|a| a["name"] == "Planted"),
        "{apps}"
    );
    assert_eq!(get(&app, "/admin/webhooks", &cookie).await.status, 403);
    let p = post(
        &app,
        "/admin/webhooks",
        &cookie,
        &[("url", "https://hooks.example/in"), ("_csrf", &token)],
    )
    .await;
    assert_eq!(p.status, 403);
    assert_eq!(app.get("/api/v1/webhooks").await.body, json!([]));

    // Another company's connection: its setup page and actions are not found; the list
    // shows theirs only.
    let theirs = app
        .post_ok(
            "/api/v1/connections",
            json!({"company": "other", "name": "theirs", "protocol": "saml", "organizations": ["other"],
                   "default_organization": "other"}),
            201,
        )
        .await;
    let theirs = theirs["id"].as_str().unwrap();
    assert_eq!(
        get(&app, &format!("/admin/connections/{theirs}"), &cookie).await.status,
        404
    );
    for action in ["scim-tokens", "setup-links", "check", "provisioning", "oidc"] {
        let p = post(
            &app,
            &format!("/admin/connections/{theirs}/{action}"),
            &cookie,
            &[("_csrf", &token)],
        )
        .await;
        assert_eq!(p.status, 404, "{action}");
    }
    assert_eq!(
        app.get(&format!("/api/v1/connections/{theirs}/scim-tokens")).await.body,
        json!([])
    );
    assert_eq!(
        app.get(&format!("/api/v1/connections/{theirs}/setup-links")).await.body,
        json!([])
    );
    let p = get(&app, "/admin/connections", &cookie).await;
    assert!(p.body.contains("okta") && !p.body.contains("theirs"), "{}", p.body);
    assert_eq!(
        get(&app, &format!("/admin/connections/{conn}"), &cookie).await.status,
        200
    );
}
