use crate::helpers::{spawn_app, Backend};
use serde_json::json;

crate::on_both_backends!(crud_and_membership, names_unique_per_organization);

async fn crud_and_membership(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_org("acme", None).await;
    let team = app
        .post_ok(
            "/api/v1/organizations/acme/teams",
            json!({ "name": "Engineering" }),
            201,
        )
        .await;
    let id = team["id"].as_str().unwrap();
    for ident in [id, "engineering", "ENGINEERING"] {
        let a = app.get(&format!("/api/v1/organizations/acme/teams/{ident}")).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["name"], "Engineering");
    }
    let a = app
        .patch("/api/v1/organizations/acme/teams/engineering", json!({ "name": "eng" }))
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["name"], "eng");

    // Only members of the organization can join its teams.
    let a = app
        .post(
            "/api/v1/organizations/acme/teams/eng/members",
            json!({ "user": "x@example.com" }),
        )
        .await;
    assert_eq!(a.status, 404, "{}", a.body);
    app.add_member("acme", "x@example.com", "owner").await;
    let a = app
        .post(
            "/api/v1/organizations/acme/teams/eng/members",
            json!({ "user": "X@Example.com" }),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["member_count"], 1);
    let a = app
        .post(
            "/api/v1/organizations/acme/teams/eng/members",
            json!({ "user": "x@example.com" }),
        )
        .await;
    assert_eq!(a.status, 200, "adding twice changes nothing");
    let m = app.get("/api/v1/organizations/acme/members/x@example.com").await;
    assert_eq!(m.body["teams"], json!(["eng"]));

    let a = app
        .delete("/api/v1/organizations/acme/teams/eng/members/x@example.com")
        .await;
    assert_eq!(a.status, 204);
    let a = app
        .delete("/api/v1/organizations/acme/teams/eng/members/x@example.com")
        .await;
    assert_eq!(a.status, 404);

    assert_eq!(app.delete("/api/v1/organizations/acme/teams/eng").await.status, 204);
    assert_eq!(app.get("/api/v1/organizations/acme/teams").await.body, json!([]));
    let actions: Vec<String> = app
        .audit("organization=acme")
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    for expected in [
        "team.create",
        "team.update",
        "team_member.add",
        "team_member.remove",
        "team.delete",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} missing from {actions:?}"
        );
    }
}

async fn names_unique_per_organization(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_org("acme", None).await;
    app.create_org("beta", None).await;
    app.post_ok("/api/v1/organizations/acme/teams", json!({ "name": "eng" }), 201)
        .await;
    let a = app
        .post("/api/v1/organizations/acme/teams", json!({ "name": "ENG" }))
        .await;
    assert_eq!(a.status, 409);
    assert_eq!(a.error_code(), "team_exists");
    app.post_ok("/api/v1/organizations/beta/teams", json!({ "name": "eng" }), 201)
        .await;
    let a = app
        .post("/api/v1/organizations/acme/teams", json!({ "name": "a:b:c" }))
        .await;
    assert_eq!(a.status, 201, "team names may contain ':'");
    let a = app.get("/api/v1/organizations/acme/teams/nope").await;
    assert_eq!(a.status, 404);
}
