//! SCIM Groups larger than an answer holds in memory: their members are sent as they are
//! read, on both backends.

use crate::helpers::{spawn_app, Backend};
use crate::scim::{setup, Scim, USER};
use reqwest::Method;
use serde_json::{json, Value};

crate::on_both_backends!(large_groups_are_answered_page_by_page);

/// A Group with more members than are read with it (200) is answered as its members are
/// read, 2,000 at a time: every member once, in id order, through GET, a list, a
/// projection, POST, PUT and the root search. Here 2,450: the first 200, a full page and
/// a part of one. The team the Group is (G4) has every member.
async fn large_groups_are_answered_page_by_page(backend: Backend) {
    use futures::StreamExt;
    let app = spawn_app(backend).await;
    let (_, token) = setup(&app, "acme", "acme.test").await;
    let scim = Scim { app: &app, token };
    let n = 2_450;
    let mut ids: Vec<String> = futures::stream::iter(0..n)
        .map(|i| {
            let scim = &scim;
            async move {
                let r = scim
                    .post(
                        "/Users",
                        json!({ "schemas": [USER], "userName": format!("m{i}@acme.test") }),
                    )
                    .await;
                assert_eq!(r.status, 201, "{}", r.body);
                r.body["id"].as_str().unwrap().to_string()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    ids.sort();
    let values = |r: &Value| -> Vec<String> {
        r["members"]
            .as_array()
            .map(|a| a.iter().map(|m| m["value"].as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let all: Vec<Value> = ids.iter().map(|id| json!({ "value": id })).collect();
    let r = scim
        .post("/Groups", json!({ "displayName": "acme:big", "members": all }))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(values(&r.body), ids, "every member once, in id order");
    assert!(r.headers.get("content-length").is_none(), "sent as it is read");
    let gid = r.body["id"].as_str().unwrap().to_string();
    let r = scim
        .post(
            "/Groups",
            json!({ "displayName": "acme:small", "members": [{ "value": ids[7] }] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(
        r.headers.get("content-length").is_some(),
        "a small answer is written at once"
    );
    let small = r.body["id"].as_str().unwrap().to_string();

    let r = scim.get(&format!("/Groups/{gid}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(values(&r.body), ids);
    assert_eq!(r.headers["content-type"], "application/scim+json");
    assert_eq!(r.headers["etag"], "W/\"1\"");
    assert!(r.headers["location"]
        .to_str()
        .unwrap()
        .ends_with(&format!("/Groups/{gid}")));
    let member = &r.body["members"][2_300];
    assert_eq!(member["type"], "User");
    assert!(member["$ref"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/Users/{}", ids[2_300])));
    assert_eq!(r.body["meta"]["version"], "W/\"1\"");
    assert_eq!(r.body["displayName"], "acme:big");
    assert_eq!(
        app.get("/api/v1/organizations/acme/teams/big").await.body["member_count"],
        n
    );

    // A page of both Groups, members projected to their value; then without members.
    let r = scim
        .get("/Groups?sortBy=displayName&attributes=displayName,members.value")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["totalResults"], 2);
    assert_eq!(r.body["itemsPerPage"], 2);
    let page = r.body["Resources"].as_array().unwrap();
    assert_eq!(page[0]["id"], gid.as_str());
    assert_eq!(values(&page[0]), ids);
    assert_eq!(
        page[0]["members"][2_000],
        json!({ "value": ids[2_000] }),
        "only the value"
    );
    assert_eq!(page[0]["displayName"], "acme:big");
    assert_eq!(page[1]["id"], small.as_str());
    assert_eq!(values(&page[1]), [ids[7].clone()]);
    // Excluding a member's sub-attribute keeps the members, each without it.
    let r = scim
        .get(&format!("/Groups/{gid}?excludedAttributes=members.type"))
        .await;
    assert_eq!(values(&r.body), ids);
    let member = r.body["members"][1_000].as_object().unwrap();
    assert!(
        member.contains_key("$ref") && !member.contains_key("type"),
        "{member:?}"
    );
    let r = scim.get("/Groups?excludedAttributes=members").await;
    assert!(r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g.get("members").is_none()));
    assert!(r.headers.get("content-length").is_some());

    // PUT answers with the members it leaves: all but the first.
    let rest: Vec<Value> = ids[1..].iter().map(|id| json!({ "value": id })).collect();
    let r = scim
        .call(
            Method::PUT,
            &format!("/Groups/{gid}"),
            Some(json!({ "displayName": "acme:big", "members": rest })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(values(&r.body), ids[1..]);
    assert_eq!(r.headers["etag"], "W/\"2\"");

    // The root search: Users first, then the Groups, each whole.
    let r = scim
        .post(
            "/.search",
            json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                    "filter": "displayName sw \"acme:\"", "sortBy": "displayName" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let found = r.body["Resources"].as_array().unwrap();
    assert_eq!(found.len(), 2, "{}", r.body["totalResults"]);
    assert_eq!(values(&found[0]), ids[1..]);
    assert_eq!(values(&found[1]), [ids[7].clone()]);
}
