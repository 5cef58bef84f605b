use crate::helpers::{spawn_app, spawn_app_with, Backend, Options};
use reqwest::Method;
use serde_json::json;

crate::on_both_backends!(
    concurrent_changes_respect_seats_and_owners,
    openapi_describes_the_admin_api,
    metrics_on_their_own_listener,
    concurrent_creates_of_one_name_give_one_201,
    retention_purges_what_only_grows,
);

/// Every call of interfaces.md's admin table is in the generated document.
async fn openapi_describes_the_admin_api(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = app.request(Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(doc.status, 200);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc.body["paths"].as_object().unwrap();
    for (path, method) in [
        ("/organizations", "post"),
        ("/organizations/{org}/teams", "post"),
        ("/organizations/{org}/members", "get"),
        ("/organizations/{org}/invitations", "post"),
        ("/companies/{company}/domains", "post"),
        ("/companies/{company}/domains/{domain}/verify", "post"),
        ("/connections", "post"),
        ("/connections/{id}", "patch"),
        ("/connections/{id}/scim-tokens", "post"),
        ("/connections/{id}/scim-tokens/{token_id}", "delete"),
        ("/audit", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    assert!(doc.body["components"]["securitySchemes"]["admin_token"].is_object());
}

async fn metrics_on_their_own_listener(backend: Backend) {
    let app = spawn_app_with(
        backend,
        Options {
            metrics: true,
            ..Options::default()
        },
    )
    .await;
    app.create_org("acme", None).await;
    assert_eq!(app.get("/api/v1/organizations/acme").await.status, 200);
    let metrics_base = app.metrics_base.clone().unwrap();
    let text = app
        .client
        .get(format!("{metrics_base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"roster_http_requests_total{method="GET",route="/api/v1/organizations/{org}",status="200"}"#),
        "{text}"
    );
    assert!(text.contains("roster_http_request_duration_seconds_bucket"), "{text}");
    assert!(text.contains(r#"roster_db_pool_connections{state="open"}"#), "{text}");
    // Not on the public port.
    assert_eq!(app.request(Method::GET, "/metrics", None, None).await.status, 404);
}

/// Uniqueness holds under concurrency too: one create wins, the others get 409.
async fn concurrent_creates_of_one_name_give_one_201(backend: Backend) {
    let app = spawn_app(backend).await;
    let results = futures::future::join_all((0..10).map(|i| {
        app.post(
            "/api/v1/organizations",
            json!({ "name": if i % 2 == 0 { "Acme" } else { "ACME" } }),
        )
    }))
    .await;
    let created = results.iter().filter(|a| a.status == 201).count();
    let conflicts: Vec<_> = results.iter().filter(|a| a.status == 409).collect();
    assert_eq!(created, 1, "{results:?}");
    assert_eq!(conflicts.len(), 9);
    for c in conflicts {
        c.error_code();
    }
    app.add_member("acme", "owner@example.com", "owner").await;
    let results = futures::future::join_all((0..10).map(|_| {
        app.post(
            "/api/v1/organizations/acme/members",
            json!({ "email": "new@example.com" }),
        )
    }))
    .await;
    assert_eq!(results.iter().filter(|a| a.status == 201).count(), 1, "{results:?}");
    assert_eq!(
        app.get("/api/v1/organizations/acme/members")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

/// The seat and last-owner checks hold when writers race (PostgreSQL runs them in
/// parallel; the organization row is locked while they count).
async fn concurrent_changes_respect_seats_and_owners(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_org("acme", Some(5)).await;
    let adds = (0..12).map(|i| {
        app.post(
            "/api/v1/organizations/acme/members",
            json!({ "email": format!("u{i}@example.com"), "role": "owner" }),
        )
    });
    let results = futures::future::join_all(adds).await;
    assert_eq!(results.iter().filter(|a| a.status == 201).count(), 5, "{results:?}");
    assert!(results
        .iter()
        .filter(|a| a.status != 201)
        .all(|a| a.status == 409 && a.error_code() == "seat_limit_reached"));
    assert_eq!(app.get("/api/v1/organizations/acme").await.body["seats_used"], 5);

    // Five owners all demoting themselves at once: one must stay.
    let owners: Vec<String> = app
        .get("/api/v1/organizations/acme/members")
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap().to_string())
        .collect();
    let paths: Vec<String> = owners
        .iter()
        .map(|e| format!("/api/v1/organizations/acme/members/{e}"))
        .collect();
    let demotions = paths.iter().map(|p| app.patch(p, json!({ "role": "member" })));
    let results = futures::future::join_all(demotions).await;
    assert_eq!(results.iter().filter(|a| a.status == 200).count(), 4, "{results:?}");
    let left = app.get("/api/v1/organizations/acme/members").await.body;
    assert_eq!(
        left.as_array().unwrap().iter().filter(|m| m["role"] == "owner").count(),
        1
    );
}

/// The error log keeps the newest entries per connection; finished sessions, unanswered
/// sign-in requests and spent replay-cache entries go once their time is over (the
/// replay cache with a margin for nodes whose clocks run ahead).
async fn retention_purges_what_only_grows(backend: Backend) {
    use roster_store::retention::{purge, Policy, Purged};
    use roster_store::{error_log, saml, sessions, Store};
    let app = spawn_app(backend).await;
    let (connection, _) = crate::scim::setup(&app, "acme", "acme.example").await;
    let user = app.add_member("acme", "jo@acme.example", "member").await;
    let user_id = user["user_id"].as_str().unwrap().to_string();
    let store = Store::connect(&app.db.url, Default::default()).await.unwrap();
    let now = app.clock.now();
    let (cid, uid) = (connection.clone(), user_id.clone());
    store
        .write(move |db| {
            Box::pin(async move {
                for i in 0..5 {
                    let entry = error_log::Entry {
                        seq: 0,
                        at: now + i,
                        kind: "scim".into(),
                        request: format!("GET /scim/v2/Users/{i}"),
                        status: 400,
                        code: None,
                        detail: format!("error {i}"),
                        trace_id: format!("t{i}"),
                    };
                    error_log::record(db, &cid, &entry).await?;
                }
                // Written last, so that no write's own clean-up takes them first.
                saml::remember_request(db, "_live", &cid, "/me", "h", now, now + 600_000).await?;
                saml::remember_request(db, "_gone", &cid, "/me", "h", now - 700_000, now - 100_000).await?;
                // Spent a minute ago (inside the margin); spent an hour ago.
                saml::first_use(db, &cid, "a-recent", now - 60_000, now).await?;
                saml::first_use(db, &cid, "a-old", now - 3_600_000, now).await?;
                let company: Option<String> =
                    roster_store::db::query_scalar("SELECT company_id FROM connections WHERE id = $1")
                        .bind(&cid)
                        .fetch_optional(&mut *db)
                        .await?;
                let company = company.unwrap();
                // Expired two days ago; live.
                sessions::start(
                    db,
                    &uid,
                    &company,
                    &cid,
                    now - 3 * 86_400_000,
                    now - 2 * 86_400_000,
                    None,
                )
                .await?;
                sessions::start(db, &uid, &company, &cid, now, now + 3_600_000, None).await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    let policy = Policy {
        errors_per_connection: 3,
        ..Policy::default()
    };
    let purged = store
        .write(move |db| Box::pin(async move { purge(db, now, policy).await }))
        .await
        .unwrap();
    assert_eq!(
        purged,
        Purged {
            errors: 2,
            sessions: 1,
            requests: 1,
            replays: 1,
            grants: 0,
            deliveries: 0,
        }
    );
    let cid = connection.clone();
    let kept = store
        .read(move |db| Box::pin(async move { error_log::list(db, &cid, None, 100).await }))
        .await
        .unwrap();
    let details: Vec<&str> = kept.iter().map(|e| e.detail.as_str()).collect();
    assert_eq!(details, ["error 4", "error 3", "error 2"], "the newest, newest first");
    // Nothing more to purge; a replay within the margin is still remembered.
    let again = store
        .write(move |db| Box::pin(async move { purge(db, now, policy).await }))
        .await
        .unwrap();
    assert_eq!(again, Purged::default());
    let cid = connection.clone();
    let replayed = store
        .write(move |db| Box::pin(async move { saml::first_use(db, &cid, "a-recent", now + 60_000, now).await }))
        .await
        .unwrap();
    assert!(!replayed, "the recent assertion is still a replay");
    store.close().await;
}
