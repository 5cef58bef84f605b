//! SCIM Groups, concurrency, paging, versions, body limits and the error log, over
//! HTTP on both backends.

use crate::helpers::{spawn_app, spawn_app_with, Backend, Options};
use crate::scim::{assert_scim_error, member, setup, Scim, USER};
use reqwest::Method;
use serde_json::{json, Value};

crate::on_both_backends!(
    group_push_rename_and_member_removal,
    concurrent_writes,
    member_changes_beside_a_rename,
    paging_sorting_projection_and_versions,
    failures_are_in_the_connection_error_log,
    oversized_bodies_get_a_scim_413,
    users_carry_their_groups_and_group_pages_their_members,
);

/// SCIM Users `name@acme.test`, each new and in no Group; their ids.
async fn create_users(scim: &Scim<'_>, names: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for name in names {
        let r = scim
            .post(
                "/Users",
                json!({ "schemas": [USER], "userName": format!("{name}@acme.test") }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert!(r.body.get("groups").is_none(), "a new User is in no Group");
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    ids
}

async fn group_push_rename_and_member_removal(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = setup(&app, "acme", "acme.test").await;
    let scim = Scim { app: &app, token };
    let ids = create_users(&scim, &["a", "b", "c"]).await;
    // Group push with members (G4): team membership equals the group's.
    let r = scim
        .post(
            "/Groups",
            json!({ "displayName": "acme:eng", "members": [{ "value": ids[0] }, { "value": ids[1] }] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let gid = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["members"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.get("/api/v1/organizations/acme/teams/eng").await.body["member_count"],
        2
    );
    // An unknown member id is a 400, not a silent skip.
    let r = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([{ "op": "add", "path": "members", "value": [{ "value": "nope" }] }]),
        )
        .await;
    assert_scim_error(&r, 400, Some("invalidValue"));
    // Nor among known ones: the write is one, so none of them is added.
    let r = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([{ "op": "add", "path": "members",
                     "value": [{ "value": ids[2] }, { "value": "nope" }] }]),
        )
        .await;
    assert_scim_error(&r, 400, Some("invalidValue"));
    assert_eq!(
        app.get("/api/v1/organizations/acme/teams/eng").await.body["member_count"],
        2
    );
    // Adding a member again changes no membership.
    let r = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([{ "op": "add", "path": "members", "value": [{ "value": ids[0] }] }]),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        app.get("/api/v1/organizations/acme/teams/eng").await.body["member_count"],
        2
    );
    // Add, filtered removal, Entra's legacy removal (only those listed).
    // A PATCH is answered 204 with the new version, unless a body is asked for.
    let r = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([
                { "op": "Add", "path": "members", "value": [{ "value": ids[2] }] },
                { "op": "Remove", "path": format!("members[value eq \"{}\"]", ids[0]) }
            ]),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(r.body, Value::Null, "no body");
    assert_eq!(r.headers["etag"], "W/\"3\"");
    let r = scim
        .patch(
            &format!("/Groups/{gid}?excludedAttributes=members"),
            json!([{ "op": "replace", "path": "externalId", "value": "okta-1" }]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["externalId"], "okta-1");
    assert!(r.body.get("members").is_none());
    let r = scim
        .patch(
            &format!("/Groups/{gid}?attributes=members"),
            json!([{ "op": "Remove", "path": "members", "value": [{ "value": ids[1] }] }]),
        )
        .await;
    assert_eq!(r.status, 200);
    let members: Vec<String> = r.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        members,
        [ids[2].clone()],
        "legacy removal removes only the listed member"
    );
    assert_eq!(
        member(&app, "acme", "a@acme.test").await["teams"],
        json!(["everyone"]),
        "G4: removal takes them out of that team only"
    );
    assert_eq!(
        member(&app, "acme", "c@acme.test").await["teams"],
        json!(["eng", "everyone"])
    );
    // Rename to another team: members move.
    let r = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([{ "op": "replace", "value": { "displayName": "acme-eu:ops" } }]),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(member(&app, "acme", "c@acme.test").await["teams"], json!(["everyone"]));
    assert_eq!(
        member(&app, "acme-eu", "c@acme.test").await["teams"],
        json!(["ops"]),
        "joined acme-eu to be in its team"
    );
    // Replace all members.
    let r = scim
        .call(
            Method::PUT,
            &format!("/Groups/{gid}"),
            Some(json!({ "displayName": "acme-eu:ops", "members": [{ "value": ids[0] }] })),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        app.get("/api/v1/organizations/acme-eu/teams/ops").await.body["member_count"],
        1
    );
    // A replacement naming an unknown member is refused whole.
    let r = scim
        .call(
            Method::PUT,
            &format!("/Groups/{gid}"),
            Some(json!({ "displayName": "acme-eu:ops",
                         "members": [{ "value": ids[1] }, { "value": "nope" }] })),
        )
        .await;
    assert_scim_error(&r, 400, Some("invalidValue"));
    assert_eq!(
        member(&app, "acme-eu", "a@acme.test").await["teams"],
        json!(["ops"]),
        "the member the refused replacement would have removed stays"
    );
    // A group that maps nothing is stored and returned.
    let r = scim
        .post(
            "/Groups",
            json!({ "displayName": "Everyone at Acme", "members": [{ "value": ids[1] }] }),
        )
        .await;
    assert_eq!(r.status, 201);
    let r = scim
        .get("/Groups?filter=displayName%20eq%20%22everyone%20at%20acme%22&excludedAttributes=members")
        .await;
    assert_eq!(r.body["totalResults"], 1);
    assert!(r.body["Resources"][0].get("members").is_none());
    let r = scim
        .get(&format!("/Groups?filter=members%5Bvalue%20eq%20%22{}%22%5D", ids[1]))
        .await;
    assert_eq!(r.body["totalResults"], 1);
    // DELETE: its members leave its team.
    assert_eq!(
        scim.call(Method::DELETE, &format!("/Groups/{gid}"), None).await.status,
        204
    );
    assert_eq!(
        app.get("/api/v1/organizations/acme-eu/teams/ops").await.body["member_count"],
        0
    );
    // The user lists its groups.
    let r = scim.get(&format!("/Users/{}", ids[1])).await;
    assert_eq!(r.body["groups"][0]["display"], "Everyone at Acme");
    // S6: a deactivated user added to a group of another organization joins it
    // deactivated: the group does not let them back in.
    let r = scim
        .patch(
            &format!("/Users/{}", ids[1]),
            json!([{ "op": "replace", "value": { "active": false } }]),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = scim
        .post(
            "/Groups",
            json!({ "displayName": "acme-eu:late", "members": [{ "value": ids[1] }] }),
        )
        .await;
    assert_eq!(r.status, 201);
    let m = member(&app, "acme-eu", "b@acme.test").await;
    assert_eq!(
        (m["state"].as_str(), m["teams"].clone()),
        (Some("deactivated"), json!(["late"]))
    );
}

async fn concurrent_writes(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = setup(&app, "acme", "acme.test").await;
    let scim = Scim { app: &app, token };
    let mut ids = Vec::new();
    for i in 0..20 {
        let r = scim
            .post("/Users", json!({ "userName": format!("u{i}@acme.test") }))
            .await;
        assert_eq!(r.status, 201);
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    let gid = scim.post("/Groups", json!({ "displayName": "acme:eng" })).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/Groups/{gid}");
    let patches = ids.iter().map(|id| {
        scim.patch(
            &path,
            json!([{ "op": "add", "path": "members", "value": [{ "value": id }] }]),
        )
    });
    let results = futures::future::join_all(patches).await;
    assert!(
        results.iter().all(|r| r.status == 204),
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let r = scim.get(&path).await;
    assert_eq!(r.body["members"].as_array().unwrap().len(), 20);
    assert_eq!(
        app.get("/api/v1/organizations/acme/teams/eng").await.body["member_count"],
        20
    );
    // Two POSTs of one userName at once: one 201, one 409.
    let (x, y) = tokio::join!(
        scim.post("/Users", json!({ "userName": "same@acme.test" })),
        scim.post("/Users", json!({ "userName": "SAME@acme.test" }))
    );
    let mut statuses = [x.status, y.status];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{x:?} {y:?}");
    let loser = if x.status == 409 { &x } else { &y };
    assert_scim_error(loser, 409, Some("uniqueness"));
}

/// G4, S9: PATCHes that add or remove named members of one Group run beside each other
/// (PostgreSQL), and a rename waits for them and they for it: every change lands, each
/// moves the version on exactly once, and every member ends in the team of the Group's
/// final name. Two PATCHes sent with the same If-Match at once: one wins, one is 412.
async fn member_changes_beside_a_rename(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = setup(&app, "acme", "acme.test").await;
    let scim = Scim { app: &app, token };
    let names: Vec<String> = (0..12).map(|i| format!("m{i}")).collect();
    let ids = create_users(&scim, &names.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let first: Vec<Value> = ids.iter().take(6).map(|id| json!({ "value": id })).collect();
    let r = scim
        .post("/Groups", json!({ "displayName": "acme:eng", "members": first }))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let path = format!("/Groups/{}", r.body["id"].as_str().unwrap());
    // Members 0-2 leave and 6-11 join, one PATCH each, with a rename among them.
    let mut bodies: Vec<Value> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| !(3..6).contains(i))
        .map(|(i, id)| match i {
            0..3 => json!([{ "op": "remove", "path": format!("members[value eq \"{id}\"]") }]),
            _ => json!([{ "op": "add", "path": "members", "value": [{ "value": id }] }]),
        })
        .collect();
    bodies.insert(
        4,
        json!([{ "op": "replace", "path": "displayName", "value": "acme:ops" }]),
    );
    let n = bodies.len();
    let results = futures::future::join_all(bodies.into_iter().map(|b| scim.patch(&path, b))).await;
    assert!(results.iter().all(|r| r.status == 204), "{results:?}");
    let r = scim.get(&path).await;
    assert_eq!(r.body["displayName"], "acme:ops");
    assert_eq!(
        r.body["meta"]["version"],
        format!("W/\"{}\"", n + 1),
        "each change once"
    );
    let mut members: Vec<&str> = r.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    members.sort_unstable();
    let mut expected: Vec<&str> = ids.iter().skip(3).map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(members, expected);
    let teams = "/api/v1/organizations/acme/teams";
    assert_eq!(app.get(&format!("{teams}/ops")).await.body["member_count"], 9);
    assert_eq!(app.get(&format!("{teams}/eng")).await.body["member_count"], 0);
    for (i, name) in names.iter().enumerate() {
        let m = member(&app, "acme", &format!("{name}@acme.test")).await;
        let teams = m["teams"].as_array().unwrap();
        assert_eq!(teams.contains(&json!("ops")), i >= 3, "{name}: {teams:?}");
        assert!(!teams.contains(&json!("eng")), "{name}: {teams:?}");
    }
    // The same If-Match on two member changes at once: the second finds the version gone.
    let version = r.body["meta"]["version"].as_str().unwrap().to_string();
    let guarded = |id: &str| {
        app.client
            .patch(app.url(&format!("/scim/v2{path}")))
            .bearer_auth(&scim.token)
            .header("if-match", &version)
            .body(
                json!({ "Operations": [{ "op": "remove", "path": format!("members[value eq \"{id}\"]") }] })
                    .to_string(),
            )
            .send()
    };
    let (x, y) = tokio::join!(guarded(&ids[3]), guarded(&ids[4]));
    let mut statuses = [x.unwrap().status().as_u16(), y.unwrap().status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [204, 412]);
    let r = scim.get(&path).await;
    assert_eq!(
        r.body["members"].as_array().unwrap().len(),
        8,
        "only the winner's change"
    );
    assert_eq!(r.body["meta"]["version"], format!("W/\"{}\"", n + 2));
}

async fn paging_sorting_projection_and_versions(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = setup(&app, "acme", "acme.test").await;
    let scim = Scim { app: &app, token };
    for i in 0..7 {
        app.clock.advance_ms(1000);
        scim.post(
            "/Users",
            json!({ "userName": format!("p{i}@acme.test"), "title": format!("T{i}") }),
        )
        .await;
    }
    let r = scim.get("/Users?startIndex=3&count=2").await;
    assert_eq!(
        (
            r.body["totalResults"].as_i64(),
            r.body["startIndex"].as_i64(),
            r.body["itemsPerPage"].as_i64()
        ),
        (Some(7), Some(3), Some(2))
    );
    assert_eq!(r.body["Resources"][0]["userName"], "p2@acme.test");
    let r = scim.get("/Users?startIndex=0&count=1000").await;
    assert_eq!(
        (r.body["startIndex"].as_i64(), r.body["itemsPerPage"].as_i64()),
        (Some(1), Some(7)),
        "startIndex < 1 is 1; count is capped"
    );
    let r = scim.get("/Users?count=0").await;
    assert_eq!(
        (r.body["totalResults"].as_i64(), r.body["Resources"].clone()),
        (Some(7), json!([]))
    );
    let r = scim
        .get("/Users?sortBy=userName&sortOrder=descending&count=1&attributes=userName")
        .await;
    assert_eq!(r.body["Resources"][0]["userName"], "p6@acme.test");
    assert!(
        r.body["Resources"][0].get("title").is_none(),
        "attributes= keeps only what is asked (and id)"
    );
    assert!(r.body["Resources"][0].get("id").is_some());
    let r = scim.get("/Users?filter=title%20sw%20%22t1%22").await;
    assert_eq!(r.body["totalResults"], 1);
    // Versions: If-Match on a stale version is 412 and changes nothing.
    let id = r.body["Resources"][0]["id"].as_str().unwrap().to_string();
    let resp = app
        .client
        .patch(app.url(&format!("/scim/v2/Users/{id}")))
        .bearer_auth(&scim.token)
        .header("if-match", "W/\"9\"")
        .body(json!({ "Operations": [{ "op": "replace", "path": "title", "value": "X" }] }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 412);
    let resp = app
        .client
        .patch(app.url(&format!("/scim/v2/Users/{id}")))
        .bearer_auth(&scim.token)
        .header("if-match", "W/\"1\"")
        .body(json!({ "Operations": [{ "op": "replace", "path": "title", "value": "X" }] }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["etag"], "W/\"2\"");
    let spc = scim.get("/ServiceProviderConfig").await;
    assert_eq!(spc.body["filter"]["maxResults"], 200);
    assert_eq!(spc.body["etag"]["supported"], true);
    let schemas = scim
        .get("/Schemas/urn:ietf:params:scim:schemas:extension:docker:2.0:User")
        .await;
    let org_attr = schemas.body["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "dockerOrg")
        .unwrap()
        .clone();
    assert_eq!(org_attr["canonicalValues"], json!(["acme", "acme-eu"]));
}

/// E1: a failed SCIM request is recorded for its connection with the request, the
/// error and the trace id the IdP saw.
async fn failures_are_in_the_connection_error_log(backend: Backend) {
    let app = spawn_app(backend).await;
    let (conn, token) = setup(&app, "acme", "acme.test").await;
    let scim = Scim { app: &app, token };
    let bad = scim.get("/Users?filter=userName%20zz%20%22x%22").await;
    let trace = bad.headers["x-trace-id"].to_str().unwrap().to_string();
    scim.post("/Users", json!({ "userName": "a@acme.test" })).await;
    let dup = scim.post("/Users", json!({ "userName": "A@acme.test" })).await;
    assert_eq!(dup.status, 409);
    let log = app.get(&format!("/api/v1/connections/{conn}/errors")).await;
    assert_eq!(log.status, 200, "{}", log.body);
    let errors = log.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{}", log.body);
    assert_eq!(errors[0]["request"], "POST /scim/v2/Users");
    assert_eq!(
        (errors[0]["status"].as_i64(), errors[0]["code"].as_str()),
        (Some(409), Some("uniqueness"))
    );
    assert_eq!(errors[1]["request"], "GET /scim/v2/Users");
    assert_eq!(errors[1]["code"], "invalidFilter");
    assert_eq!(errors[1]["trace_id"], trace.as_str());
    assert!(errors[1]["detail"].as_str().unwrap().contains("zz"));
    // A request with a wrong token belongs to no connection and is not in its log.
    let resp = app
        .client
        .get(app.url("/scim/v2/Users"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        app.get(&format!("/api/v1/connections/{conn}/errors")).await.body["errors"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

/// Over the body limit: a SCIM 413 (a body small enough that the client finishes
/// sending before the answer, so the answer is always read).
async fn oversized_bodies_get_a_scim_413(backend: Backend) {
    let app = spawn_app_with(
        backend,
        Options {
            max_body_bytes: 64 * 1024,
            ..Options::default()
        },
    )
    .await;
    let (_, token) = setup(&app, "acme", "acme.test").await;
    let body = json!({ "userName": "big@acme.test", "title": "x".repeat(256 * 1024) }).to_string();
    let r = app
        .client
        .post(app.url("/scim/v2/Users"))
        .bearer_auth(&token)
        .header("content-type", "application/scim+json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.headers()["content-type"], "application/scim+json");
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["status"].as_str(), v["schemas"][0].as_str()),
        (Some("413"), Some("urn:ietf:params:scim:api:messages:2.0:Error"))
    );
    let s = Scim { app: &app, token };
    assert_eq!(s.get("/Users").await.body["totalResults"], 0);
}

/// A User's `groups` are read with it (one query) on every read path, ordered by name;
/// a page of Groups carries each Group's own members (one query for the page).
async fn users_carry_their_groups_and_group_pages_their_members(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = setup(&app, "acme", "acme.test").await;
    let scim = Scim { app: &app, token };
    let ids = create_users(&scim, &["a", "b", "c"]).await;
    let mut gids = Vec::new();
    for (name, members) in [("zeta", vec![0, 1]), ("Alpha", vec![0]), ("mid", vec![2])] {
        let members: Vec<Value> = members.iter().map(|i: &usize| json!({ "value": ids[*i] })).collect();
        let r = scim
            .post("/Groups", json!({ "displayName": name, "members": members }))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        gids.push(r.body["id"].as_str().unwrap().to_string());
    }
    let names = |v: &Value| -> Vec<String> {
        v["groups"]
            .as_array()
            .map(|a| a.iter().map(|g| g["display"].as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    // By id, in a filtered list, and in a PATCH answer: both Groups, by name.
    let r = scim.get(&format!("/Users/{}", ids[0])).await;
    assert_eq!(names(&r.body), ["Alpha", "zeta"]);
    assert_eq!(r.body["groups"][0]["value"], gids[1].as_str());
    let r = scim.get("/Users?filter=userName%20eq%20%22a@acme.test%22").await;
    assert_eq!(names(&r.body["Resources"][0]), ["Alpha", "zeta"]);
    let r = scim.get("/Users?sortBy=userName").await;
    let listed: Vec<Vec<String>> = r.body["Resources"].as_array().unwrap().iter().map(names).collect();
    assert_eq!(listed, [vec!["Alpha", "zeta"], vec!["zeta"], vec!["mid"]]);
    let r = scim
        .patch(
            &format!("/Users/{}", ids[1]),
            json!([{ "op": "replace", "path": "displayName", "value": "ignored" }, { "op": "replace", "path": "title", "value": "Dr" }]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(names(&r.body), ["zeta"]);
    // Left out when excluded.
    let r = scim.get(&format!("/Users/{}?excludedAttributes=groups", ids[0])).await;
    assert!(r.body.get("groups").is_none(), "{}", r.body);
    // A page of Groups: each with its own members, none with another's.
    let r = scim.get("/Groups?sortBy=displayName").await;
    let page: Vec<(String, Vec<String>)> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let mut m: Vec<String> = g["members"]
                .as_array()
                .map(|a| a.iter().map(|m| m["value"].as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            m.sort();
            (g["displayName"].as_str().unwrap().to_string(), m)
        })
        .collect();
    let mut zeta = vec![ids[0].clone(), ids[1].clone()];
    zeta.sort();
    assert_eq!(
        page,
        [
            ("Alpha".to_string(), vec![ids[0].clone()]),
            ("mid".to_string(), vec![ids[2].clone()]),
            ("zeta".to_string(), zeta),
        ]
    );
}
