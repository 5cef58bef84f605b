//! The directory as apps read it: people with their memberships and teams, within the
//! reach of the credential, paged by cursor and filtered by `updated_since`.

use crate::helpers::{spawn_app, Backend, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashSet;

crate::on_both_backends!(
    apps_read_the_directory_within_their_reach,
    pages_and_updated_since_cover_every_change
);

async fn read(app: &TestApp, credential: &str, path: &str) -> (u16, Value) {
    let a = app.request(Method::GET, path, Some(credential), None).await;
    (a.status.as_u16(), a.body)
}

async fn key(app: &TestApp, scopes: &[&str], organizations: &[&str]) -> String {
    let made = app
        .post_ok(
            "/api/v1/api-keys",
            json!({"scopes": scopes, "organizations": organizations}),
            201,
        )
        .await;
    made["key"].as_str().unwrap().to_string()
}

fn emails(body: &Value) -> Vec<String> {
    body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_string())
        .collect()
}

async fn setup(app: &TestApp) {
    app.create_org("acme", None).await;
    app.create_org("other", None).await;
    app.add_member("acme", "alice@acme.example", "owner").await;
    app.add_member("acme", "bob@acme.example", "member").await;
    app.add_member("other", "bob@acme.example", "editor").await;
    app.add_member("other", "carol@other.example", "owner").await;
    app.post_ok("/api/v1/organizations/acme/teams", json!({"name": "eng"}), 201)
        .await;
    app.post_ok(
        "/api/v1/organizations/acme/teams/eng/members",
        json!({"user": "alice@acme.example"}),
        201,
    )
    .await;
}

async fn apps_read_the_directory_within_their_reach(backend: Backend) {
    let app = spawn_app(backend).await;
    setup(&app).await;
    let admin = crate::helpers::ADMIN_TOKEN.to_string();

    // The admin token: everyone, with every membership.
    let (status, all) = read(&app, &admin, "/api/v1/directory/users").await;
    assert_eq!(status, 200, "{all}");
    let mut got = emails(&all);
    got.sort();
    assert_eq!(got, ["alice@acme.example", "bob@acme.example", "carol@other.example"]);
    let alice = all["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "alice@acme.example")
        .unwrap()
        .clone();
    assert_eq!(alice["active"], true);
    assert_eq!(alice["organizations"][0]["organization"], "acme");
    assert_eq!(alice["organizations"][0]["role"], "owner");
    assert_eq!(alice["organizations"][0]["teams"], json!(["eng"]));

    // A key limited to acme: acme's people, with their acme membership only.
    let acme = key(&app, &["directory:read"], &["acme"]).await;
    let (status, body) = read(&app, &acme, "/api/v1/directory/users").await;
    assert_eq!(status, 200, "{body}");
    let mut got = emails(&body);
    got.sort();
    assert_eq!(got, ["alice@acme.example", "bob@acme.example"]);
    let bob = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "bob@acme.example")
        .unwrap();
    let orgs: Vec<&str> = bob["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["organization"].as_str().unwrap())
        .collect();
    assert_eq!(orgs, ["acme"], "other's membership is not acme's to read: {bob}");
    let carol = app.get("/api/v1/users/carol@other.example").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = read(&app, &acme, &format!("/api/v1/directory/users/{carol}")).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = read(&app, &admin, &format!("/api/v1/directory/users/{carol}")).await;
    assert_eq!((status, body["email"].as_str()), (200, Some("carol@other.example")));

    // Another company's organization and one that does not exist answer alike.
    let (s1, b1) = read(&app, &acme, "/api/v1/directory/organizations/other/members").await;
    let (s2, b2) = read(&app, &acme, "/api/v1/directory/organizations/nowhere/members").await;
    assert_eq!((s1, s2), (404, 404));
    assert_eq!(b1["error"]["message"], b2["error"]["message"]);
    let (status, body) = read(&app, &acme, "/api/v1/directory/organizations").await;
    assert_eq!(status, 200);
    assert_eq!(body["organizations"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["organizations"][0]["name"], "acme");

    // An organization's members and teams.
    let (status, body) = read(&app, &acme, "/api/v1/directory/organizations/acme/members").await;
    assert_eq!(status, 200, "{body}");
    let mut got = emails(&body);
    got.sort();
    assert_eq!(got, ["alice@acme.example", "bob@acme.example"]);
    let (status, body) = read(&app, &acme, "/api/v1/directory/organizations/acme/teams").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["teams"][0]["name"], "eng");
    assert_eq!(body["teams"][0]["member_count"], 1);

    // A deactivated member reads as such.
    let a = app
        .patch(
            "/api/v1/organizations/other/members/carol@other.example",
            json!({"state": "deactivated"}),
        )
        .await;
    assert_eq!(a.status, 409, "the last owner stays: {}", a.body);
    let a = app
        .patch(
            "/api/v1/organizations/acme/members/bob@acme.example",
            json!({"state": "deactivated"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let (_, body) = read(&app, &acme, "/api/v1/directory/organizations/acme/members").await;
    let bob = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "bob@acme.example")
        .unwrap();
    assert_eq!(
        (bob["active"].as_bool(), bob["organizations"][0]["state"].as_str()),
        (Some(false), Some("deactivated"))
    );

    // Scopes: events:read alone does not read the directory; a key reads nothing else.
    let events_only = key(&app, &["events:read"], &[]).await;
    let (status, body) = read(&app, &events_only, "/api/v1/directory/users").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("insufficient_scope"))
    );
    let (status, _) = read(&app, &acme, "/api/v1/users").await;
    assert_eq!(status, 401);

    // An app's own token with directory:read: its company's people.
    let created = app
        .post_ok(
            "/api/v1/apps",
            json!({"company": "other", "name": "Sync", "redirect_uris": ["https://sync.other.example/cb"]}),
            201,
        )
        .await;
    let resp = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth(
            created["client_id"].as_str().unwrap(),
            Some(created["client_secret"].as_str().unwrap()),
        )
        .form(&[("grant_type", "client_credentials"), ("scope", "directory:read")])
        .send()
        .await
        .unwrap();
    let token: Value = resp.json().await.unwrap();
    let token = token["access_token"].as_str().unwrap();
    let (status, body) = read(&app, token, "/api/v1/directory/users").await;
    assert_eq!(status, 200, "{body}");
    let mut got = emails(&body);
    got.sort();
    assert_eq!(got, ["bob@acme.example", "carol@other.example"]);

    // Bad input: a clear 400.
    for (query, code) in [
        ("after=not-a-cursor", "invalid_cursor"),
        ("updated_since=yesterday", "invalid_updated_since"),
        ("colour=blue", "invalid_query"),
    ] {
        let a = app.get(&format!("/api/v1/directory/users?{query}")).await;
        assert_eq!(
            (a.status.as_u16(), a.error_code()),
            (400, code.to_string()),
            "{query}: {}",
            a.body
        );
    }
}

async fn pages_and_updated_since_cover_every_change(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_org("acme", None).await;
    for i in 0..7 {
        app.add_member("acme", &format!("p{i}@acme.example"), "member").await;
    }
    app.post_ok("/api/v1/organizations/acme/teams", json!({"name": "eng"}), 201)
        .await;
    app.post_ok("/api/v1/organizations/acme/teams", json!({"name": "ops"}), 201)
        .await;
    let reader = key(&app, &["directory:read"], &["acme"]).await;

    // Following the cursor, two at a time: everyone once, in order.
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let (status, body) = read(
            &app,
            &reader,
            &format!("/api/v1/directory/organizations/acme/members?limit=2&after={after}"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        for u in body["users"].as_array().unwrap() {
            seen.push(u["id"].as_str().unwrap().to_string());
        }
        match body["next_cursor"].as_str() {
            Some(c) => after = c.to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 7, "no duplicates");
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);

    // Later: p1 joins a team, p2's role changes, p3's profile changes, ops is renamed.
    app.clock.advance_ms(60_000);
    let since = time::OffsetDateTime::from_unix_timestamp(app.clock.now() / 1000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    app.clock.advance_ms(1_000);
    app.post_ok(
        "/api/v1/organizations/acme/teams/eng/members",
        json!({"user": "p1@acme.example"}),
        201,
    )
    .await;
    let a = app
        .patch(
            "/api/v1/organizations/acme/members/p2@acme.example",
            json!({"role": "editor"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = app
        .patch("/api/v1/users/p3@acme.example", json!({"full_name": "Person Three"}))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = app
        .patch("/api/v1/organizations/acme/teams/ops", json!({"name": "sre"}))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);

    let (status, body) = read(&app, &reader, &format!("/api/v1/directory/users?updated_since={since}")).await;
    assert_eq!(status, 200, "{body}");
    let mut got = emails(&body);
    got.sort();
    assert_eq!(got, ["p1@acme.example", "p2@acme.example", "p3@acme.example"]);
    let (_, body) = read(
        &app,
        &reader,
        &format!("/api/v1/directory/organizations/acme/teams?updated_since={since}"),
    )
    .await;
    let names: Vec<&str> = body["teams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sre"]);
    // Leaving a team is a change too.
    let since2 = time::OffsetDateTime::from_unix_timestamp(app.clock.now() / 1000 + 1)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    app.clock.advance_ms(2_000);
    let a = app
        .delete("/api/v1/organizations/acme/teams/eng/members/p1@acme.example")
        .await;
    assert_eq!(a.status, 204, "{}", a.body);
    let (_, body) = read(
        &app,
        &reader,
        &format!("/api/v1/directory/users?updated_since={since2}"),
    )
    .await;
    assert_eq!(emails(&body), ["p1@acme.example"]);
    assert_eq!(body["users"][0]["organizations"][0]["teams"], json!([]));
}
