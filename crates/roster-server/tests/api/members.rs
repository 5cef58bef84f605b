use crate::helpers::{spawn_app, Backend};
use serde_json::json;

crate::on_both_backends!(
    crud_and_email_case,
    j9_seat_limit_counts_invitations_not_deactivated,
    last_owner_is_protected,
    invitations_lifecycle,
    users_crud,
);

async fn crud_and_email_case(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_org("acme", None).await;
    app.post_ok("/api/v1/organizations/acme/teams", json!({ "name": "eng" }), 201)
        .await;
    let m = app
        .post_ok(
            "/api/v1/organizations/acme/members",
            json!({ "email": "Jane.Doe@Example.com", "role": "editor", "teams": ["ENG"], "full_name": "Jane Doe" }),
            201,
        )
        .await;
    assert_eq!(m["email"], "Jane.Doe@example.com");
    assert_eq!(m["username"], "janedoe");
    assert_eq!(m["role"], "editor");
    assert_eq!(m["state"], "active");
    assert_eq!(m["source"], "admin");
    assert_eq!(m["teams"], json!(["eng"]));
    let user_id = m["user_id"].as_str().unwrap();

    // The same email in another case is the same account (spec §1).
    let a = app
        .post(
            "/api/v1/organizations/acme/members",
            json!({ "email": "jane.doe@EXAMPLE.com" }),
        )
        .await;
    assert_eq!(a.status, 409);
    assert_eq!(a.error_code(), "member_exists");
    // Same local part, other domain: another account with a fresh username.
    let other = app.add_member("acme", "jane.doe@example.org", "member").await;
    assert_eq!(other["username"], "janedoe1");

    for ident in [user_id, "jane.doe@example.com", "janedoe"] {
        let a = app.get(&format!("/api/v1/organizations/acme/members/{ident}")).await;
        assert_eq!(a.status, 200, "{ident}");
        assert_eq!(a.body["user_id"], user_id);
    }
    let list = app.get("/api/v1/organizations/acme/members").await;
    assert_eq!(list.body.as_array().unwrap().len(), 2);
    let paged = app.get("/api/v1/organizations/acme/members?limit=1").await;
    assert_eq!(paged.body.as_array().unwrap().len(), 1);
    let cursor = paged
        .headers
        .get("x-next-cursor")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let rest = app
        .get(&format!("/api/v1/organizations/acme/members?limit=1&after={cursor}"))
        .await;
    assert_ne!(rest.body[0]["user_id"], paged.body[0]["user_id"]);

    let a = app
        .patch(
            "/api/v1/organizations/acme/members/janedoe",
            json!({ "role": "member", "state": "deactivated" }),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["state"], "deactivated");
    assert_eq!(a.body["teams"], json!(["eng"]), "deactivation keeps teams");
    let a = app
        .patch("/api/v1/organizations/acme/members/janedoe", json!({ "role": "boss" }))
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.error_code(), "invalid_role");

    assert_eq!(
        app.delete("/api/v1/organizations/acme/members/janedoe").await.status,
        204
    );
    assert_eq!(app.get("/api/v1/organizations/acme/members/janedoe").await.status, 404);
    assert_eq!(
        app.get("/api/v1/users/janedoe").await.status,
        200,
        "the global account stays"
    );
    let a = app.get("/api/v1/organizations/acme/teams/eng").await;
    assert_eq!(
        a.body["member_count"], 0,
        "removal takes the member out of the organization's teams"
    );
}

async fn j9_seat_limit_counts_invitations_not_deactivated(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_org("acme", Some(2)).await;
    app.add_member("acme", "a@example.com", "owner").await;
    app.post_ok(
        "/api/v1/organizations/acme/invitations",
        json!({ "email": "b@example.com" }),
        201,
    )
    .await;
    let a = app
        .post(
            "/api/v1/organizations/acme/members",
            json!({ "email": "c@example.com" }),
        )
        .await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(a.error_code(), "seat_limit_reached");
    assert_eq!(
        a.body["error"]["message"],
        "Not enough seats in organization 'acme'. Add more seats or contact your administrator."
    );
    let a = app
        .post(
            "/api/v1/organizations/acme/invitations",
            json!({ "email": "c@example.com" }),
        )
        .await;
    assert_eq!(a.status, 409);
    assert!(
        app.get("/api/v1/users/c@example.com").await.status == 404,
        "a refused add creates no account"
    );

    // Deactivated members free their seat; reactivating needs one again.
    let inv = app.get("/api/v1/organizations/acme/invitations").await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        app.delete(&format!("/api/v1/organizations/acme/invitations/{inv}"))
            .await
            .status,
        204
    );
    app.add_member("acme", "c@example.com", "member").await;
    let a = app
        .patch(
            "/api/v1/organizations/acme/members/c@example.com",
            json!({ "state": "deactivated" }),
        )
        .await;
    assert_eq!(a.status, 200);
    app.add_member("acme", "d@example.com", "member").await;
    let a = app
        .patch(
            "/api/v1/organizations/acme/members/c@example.com",
            json!({ "state": "active" }),
        )
        .await;
    assert_eq!(a.status, 409);
    assert_eq!(a.error_code(), "seat_limit_reached");
    // A user in two organizations takes a seat in each.
    app.create_org("beta", Some(1)).await;
    app.add_member("beta", "a@example.com", "owner").await;
    assert_eq!(app.get("/api/v1/organizations/beta").await.body["seats_used"], 1);
    assert_eq!(app.get("/api/v1/organizations/acme").await.body["seats_used"], 2);
}

async fn last_owner_is_protected(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_org("acme", None).await;
    app.add_member("acme", "owner@example.com", "owner").await;
    app.add_member("acme", "m@example.com", "member").await;
    for (change, body) in [
        ("demote", json!({ "role": "editor" })),
        ("deactivate", json!({ "state": "deactivated" })),
    ] {
        let a = app
            .patch("/api/v1/organizations/acme/members/owner@example.com", body)
            .await;
        assert_eq!(a.status, 409, "{change}: {}", a.body);
        assert_eq!(a.error_code(), "last_owner");
    }
    let a = app.delete("/api/v1/organizations/acme/members/owner@example.com").await;
    assert_eq!(a.error_code(), "last_owner");
    let a = app.delete("/api/v1/users/owner@example.com").await;
    assert_eq!(a.status, 409);
    assert_eq!(a.error_code(), "last_owner");
    // With a second owner, the first may go.
    assert_eq!(
        app.patch(
            "/api/v1/organizations/acme/members/m@example.com",
            json!({ "role": "owner" })
        )
        .await
        .status,
        200
    );
    assert_eq!(
        app.delete("/api/v1/organizations/acme/members/owner@example.com")
            .await
            .status,
        204
    );
    let a = app.get("/api/v1/organizations/acme/members").await;
    assert_eq!(a.body.as_array().unwrap().len(), 1);
}

async fn invitations_lifecycle(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_org("acme", Some(5)).await;
    app.post_ok("/api/v1/organizations/acme/teams", json!({ "name": "eng" }), 201)
        .await;
    let inv = app
        .post_ok(
            "/api/v1/organizations/acme/invitations",
            json!({ "email": "New@Example.com", "team": "eng", "role": "editor" }),
            201,
        )
        .await;
    assert_eq!(inv["state"], "pending");
    assert_eq!(inv["team"], "eng");
    assert_eq!(inv["role"], "editor");
    let a = app
        .post(
            "/api/v1/organizations/acme/invitations",
            json!({ "email": "new@example.com" }),
        )
        .await;
    assert_eq!(a.status, 409);
    assert_eq!(a.error_code(), "invitation_exists");
    let a = app
        .post(
            "/api/v1/organizations/acme/invitations",
            json!({ "email": "x@example.com", "team": "nope" }),
        )
        .await;
    assert_eq!(a.status, 404);
    assert_eq!(app.get("/api/v1/organizations/acme").await.body["seats_used"], 1);

    // 14 days later the invitation has expired: it frees its seat and a new one may be sent.
    app.clock.advance_ms(14 * 24 * 3600 * 1000 + 1);
    assert_eq!(app.get("/api/v1/organizations/acme").await.body["seats_used"], 0);
    let id = inv["id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/organizations/acme/invitations/{id}"))
            .await
            .body["state"],
        "expired"
    );
    let again = app
        .post_ok(
            "/api/v1/organizations/acme/invitations",
            json!({ "email": "new@example.com" }),
            201,
        )
        .await;
    let id2 = again["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/v1/organizations/acme/invitations/{id2}"))
            .await
            .status,
        204
    );
    assert_eq!(
        app.delete(&format!("/api/v1/organizations/acme/invitations/{id2}"))
            .await
            .status,
        409
    );
    app.add_member("acme", "member@example.com", "owner").await;
    let a = app
        .post(
            "/api/v1/organizations/acme/invitations",
            json!({ "email": "MEMBER@example.com" }),
        )
        .await;
    assert_eq!(a.error_code(), "member_exists");
}

async fn users_crud(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_org("acme", None).await;
    app.add_member("acme", "owner@example.com", "owner").await;
    let m = app.add_member("acme", "sam@example.com", "member").await;
    let a = app.get("/api/v1/users?email=SAM").await;
    assert_eq!(a.body.as_array().unwrap().len(), 1);
    assert_eq!(a.body[0]["id"], m["user_id"]);
    let a = app
        .patch(
            "/api/v1/users/sam@example.com",
            json!({ "full_name": "Sam Smith", "given_name": "Sam", "family_name": "Smith" }),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["full_name"], "Sam Smith");
    let a = app
        .patch("/api/v1/users/sam@example.com", json!({ "full_name": "" }))
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(app.delete("/api/v1/users/sam").await.status, 204);
    assert_eq!(app.get("/api/v1/users/sam@example.com").await.status, 404);
    assert_eq!(
        app.get("/api/v1/organizations/acme/members")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1,
        "memberships go with the account"
    );
    let events = app.audit(&format!("user={}", "owner@example.com")).await;
    assert!(events.iter().any(|e| e["action"] == "membership.add"));
}
