use crate::helpers::{spawn_app, Backend};
use serde_json::json;

crate::on_both_backends!(
    crud_by_name_and_id,
    names_are_unique_case_insensitively,
    seat_limit_changes,
    every_change_is_audited
);

async fn crud_by_name_and_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let org = app.create_org("Acme", Some(10)).await;
    assert_eq!(org["name"], "Acme");
    assert_eq!(
        org["company"], "Acme",
        "without a company, one of the same name is created"
    );
    assert_eq!(org["seat_limit"], 10);
    let id = org["id"].as_str().unwrap();

    for ident in [id, "acme", "ACME"] {
        let a = app.get(&format!("/api/v1/organizations/{ident}")).await;
        assert_eq!(a.status, 200, "{ident}: {}", a.body);
        assert_eq!(a.body["id"], id);
        assert_eq!(a.body["seats_used"], 0);
    }
    let listed = app.get("/api/v1/organizations").await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);

    let a = app
        .patch(
            "/api/v1/organizations/acme",
            json!({ "name": "Acme Corp", "seat_limit": null }),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["name"], "Acme Corp");
    assert!(a.body["seat_limit"].is_null());
    assert_eq!(
        app.get("/api/v1/organizations/acme").await.status,
        404,
        "the old name no longer addresses it"
    );

    let a = app.delete(&format!("/api/v1/organizations/{id}")).await;
    assert_eq!(a.status, 204);
    let a = app.get(&format!("/api/v1/organizations/{id}")).await;
    assert_eq!(a.status, 404);
    assert_eq!(a.error_code(), "not_found");

    // A second organization in the existing company.
    let b = app
        .post_ok(
            "/api/v1/organizations",
            json!({ "name": "acme-eu", "company": "Acme" }),
            201,
        )
        .await;
    assert_eq!(b["company"], "Acme");
    let listed = app.get("/api/v1/organizations?company=acme").await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
}

async fn names_are_unique_case_insensitively(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_org("acme", None).await;
    let a = app
        .post("/api/v1/organizations", json!({ "name": "ACME", "company": "acme" }))
        .await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(a.error_code(), "organization_exists");
    let a = app.post("/api/v1/organizations", json!({ "name": "acme:eng" })).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.error_code(), "invalid_name");
    let a = app
        .post(
            "/api/v1/organizations",
            json!({ "name": "other", "company": "no-such-company" }),
        )
        .await;
    assert_eq!(a.status, 404);
    app.create_org("beta", None).await;
    let a = app.patch("/api/v1/organizations/beta", json!({ "name": "Acme" })).await;
    assert_eq!(a.status, 409);
}

async fn seat_limit_changes(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_org("acme", Some(2)).await;
    app.add_member("acme", "a@example.com", "owner").await;
    app.add_member("acme", "b@example.com", "member").await;
    let a = app
        .patch("/api/v1/organizations/acme", json!({ "seat_limit": 1 }))
        .await;
    assert_eq!(a.status, 409);
    assert_eq!(a.error_code(), "seat_limit_too_low");
    let a = app
        .patch("/api/v1/organizations/acme", json!({ "seat_limit": 3 }))
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["seats_used"], 2);
}

async fn every_change_is_audited(backend: Backend) {
    let app = spawn_app(backend).await;
    let org = app.create_org("acme", None).await;
    app.patch("/api/v1/organizations/acme", json!({ "seat_limit": 5 }))
        .await;
    let events = app.audit("organization=acme").await;
    let actions: Vec<&str> = events.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["organization.update", "organization.create"], "newest first");
    let update = &events[0];
    assert_eq!(update["before"]["seat_limit"], json!(null));
    assert_eq!(update["after"]["seat_limit"], 5);
    assert_eq!(update["actor"]["kind"], "admin");
    assert!(!update["trace_id"].as_str().unwrap().is_empty());
    assert_eq!(update["object"]["id"], org["id"]);
    app.delete("/api/v1/organizations/acme").await;
    let all = app.audit("").await;
    assert_eq!(all[0]["action"], "organization.delete");
    assert_eq!(all[0]["before"]["name"], "acme");
    assert!(
        all.iter().any(|e| e["action"] == "company.create"),
        "the implicit company is audited too"
    );
}
