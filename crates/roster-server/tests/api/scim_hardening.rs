//! SCIM behaviours hardened against what IdPs really send and what an attacker could
//! try, on both backends.

use crate::helpers::{spawn_app, Backend};
use crate::scim::{assert_scim_error, member, setup, Scim, ENTERPRISE, USER};
use reqwest::Method;
use serde_json::json;

crate::on_both_backends!(
    s6_a_put_without_active_keeps_the_state_and_returns_it,
    g1_g4_a_group_stops_feeding_its_team_once_its_organization_is_disconnected,
    organizations_named_like_ids_are_refused,
    entra_attribute_mapping_and_type_checks,
    entra_matches_users_by_work_email,
);

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

async fn s6_a_put_without_active_keeps_the_state_and_returns_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = setup(&app, "acme", "acme.example").await;
    let scim = Scim { app: &app, token };
    let created = scim
        .post(
            "/Users",
            json!({ "schemas": [USER], "userName": "jo@acme.example", "name": { "givenName": "Jo", "familyName": "B" } }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    // Created without `active`: active, and the resource says so.
    assert_eq!(created.body["active"], true, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();

    // Deactivated (S6), then replaced by a PUT that leaves `active` out.
    let off = scim
        .patch(
            &format!("/Users/{id}"),
            json!([{ "op": "replace", "path": "active", "value": false }]),
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.body);
    assert_eq!(member(&app, "acme", "jo@acme.example").await["state"], "deactivated");
    let put = scim
        .call(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(json!({ "schemas": [USER], "userName": "jo@acme.example", "name": { "givenName": "Jo", "familyName": "Bloggs" } })),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["active"], false, "a PUT without active keeps it: {}", put.body);
    assert_eq!(put.body["name"]["familyName"], "Bloggs");
    let got = scim.get(&format!("/Users/{id}")).await;
    assert_eq!(got.body["active"], false, "{}", got.body);
    assert_eq!(
        member(&app, "acme", "jo@acme.example").await["state"],
        "deactivated",
        "S6: the membership stays deactivated"
    );
    // `enabled` is accepted as `active`.
    let on = scim
        .call(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(json!({ "schemas": [USER], "userName": "jo@acme.example", "enabled": true })),
        )
        .await;
    assert_eq!(on.status, 200, "{}", on.body);
    assert_eq!(on.body["active"], true, "{}", on.body);
    assert_eq!(member(&app, "acme", "jo@acme.example").await["state"], "active");
}

async fn g1_g4_a_group_stops_feeding_its_team_once_its_organization_is_disconnected(backend: Backend) {
    let app = spawn_app(backend).await;
    let (cid, token) = setup(&app, "acme", "acme.example").await;
    let scim = Scim { app: &app, token };
    let mut users = Vec::new();
    for name in ["ann", "bob"] {
        let u = scim
            .post(
                "/Users",
                json!({ "schemas": [USER], "userName": format!("{name}@acme.example") }),
            )
            .await;
        assert_eq!(u.status, 201, "{}", u.body);
        users.push(u.body["id"].as_str().unwrap().to_string());
    }
    let g = scim
        .post(
            "/Groups",
            json!({ "schemas": [GROUP], "displayName": "acme-eu:ops", "members": [{ "value": users[0] }] }),
        )
        .await;
    assert_eq!(g.status, 201, "{}", g.body);
    let gid = g.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        member(&app, "acme-eu", "ann@acme.example").await["teams"],
        json!(["ops"])
    );

    // acme-eu is no longer one of the connection's organizations.
    let patched = app
        .patch(
            &format!("/api/v1/connections/{cid}"),
            json!({ "organizations": ["acme"] }),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let add = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([{ "op": "add", "path": "members", "value": [{ "value": users[1] }] }]),
        )
        .await;
    assert!(add.status == 200 || add.status == 204, "{}", add.body);
    assert_eq!(
        member(&app, "acme-eu", "bob@acme.example").await,
        serde_json::Value::Null,
        "G1: a disconnected organization gets no member through the Group"
    );
    // Reconnected, the Group's name maps again on its next change.
    let back = app
        .patch(
            &format!("/api/v1/connections/{cid}"),
            json!({ "organizations": ["acme", "acme-eu"] }),
        )
        .await;
    assert_eq!(back.status, 200, "{}", back.body);
    let rename = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([{ "op": "replace", "path": "displayName", "value": "acme-eu:sre" }]),
        )
        .await;
    assert!(rename.status == 200 || rename.status == 204, "{}", rename.body);
    assert_eq!(
        member(&app, "acme-eu", "bob@acme.example").await["teams"],
        json!(["sre"])
    );
}

async fn organizations_named_like_ids_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app
        .post(
            "/api/v1/organizations",
            json!({ "name": "0194f0aa-0000-7000-8000-000000000001" }),
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(a.body["error"]["code"], "invalid_name");
}

/// What Microsoft Entra ID's default attribute mapping sends, and values of the wrong
/// type, which change nothing.
async fn entra_attribute_mapping_and_type_checks(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = setup(&app, "acme", "acme.example").await;
    let scim = Scim { app: &app, token };
    let boss = scim
        .post("/Users", json!({ "schemas": [USER], "userName": "boss@acme.example" }))
        .await;
    let boss_id = boss.body["id"].as_str().unwrap().to_string();
    let jo = scim
        .post("/Users", json!({ "schemas": [USER], "userName": "jo@acme.example" }))
        .await;
    assert_eq!(jo.status, 201, "{}", jo.body);
    let id = jo.body["id"].as_str().unwrap().to_string();
    let r = scim
        .patch(
            &format!("/Users/{id}"),
            json!([
                { "op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Springfield" },
                { "op": "Add", "path": "addresses[type eq \"work\"].postalCode", "value": "62701" },
                { "op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0101" },
                { "op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": boss_id },
                { "op": "Add", "path": "active", "value": "True" },
            ]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = scim.get(&format!("/Users/{id}")).await.body;
    assert_eq!(
        got["addresses"],
        json!([{ "type": "work", "locality": "Springfield", "postalCode": "62701" }])
    );
    assert_eq!(
        got["phoneNumbers"],
        json!([{ "type": "mobile", "value": "+1 555 0101" }])
    );
    assert_eq!(got[ENTERPRISE]["manager"], json!({ "value": boss_id }));
    // The older form of the manager, without the URN.
    let r = scim
        .patch(
            &format!("/Users/{id}"),
            json!([{ "op": "Replace", "path": "manager", "value": [{ "$ref": null, "value": "someone-else" }] }]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        scim.get(&format!("/Users/{id}")).await.body[ENTERPRISE]["manager"],
        json!({ "value": "someone-else" })
    );

    // A value of the wrong type is refused, and nothing changes.
    let version = scim.get(&format!("/Users/{id}")).await.body["meta"]["version"].clone();
    let bad = scim
        .patch(
            &format!("/Users/{id}"),
            json!([{ "op": "replace", "path": "active", "value": "maybe" }]),
        )
        .await;
    assert_scim_error(&bad, 400, Some("invalidValue"));
    let after = scim.get(&format!("/Users/{id}")).await.body;
    assert_eq!(after["active"], true);
    assert_eq!(after["meta"]["version"], version);
    let bad = scim
        .post(
            "/Users",
            json!({ "schemas": [USER], "userName": "x@acme.example", "active": "maybe" }),
        )
        .await;
    assert_scim_error(&bad, 400, Some("invalidValue"));
    assert_eq!(member(&app, "acme", "x@acme.example").await, serde_json::Value::Null);
}

/// Entra ID, with the work email as its matching attribute, asks
/// `emails[type eq "work"].value eq "…"`: every address of every User counts, not only
/// the one that provisions the account, and the type must match.
async fn entra_matches_users_by_work_email(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = setup(&app, "acme", "acme.example").await;
    let scim = Scim { app: &app, token };
    let jo = scim
        .post(
            "/Users",
            json!({ "schemas": [USER], "userName": "jo.upn@acme.example",
                    "emails": [{ "value": "Jo@Acme.example", "type": "work" }, { "value": "jo@home.test", "type": "home" }] }),
        )
        .await;
    assert_eq!(jo.status, 201, "{}", jo.body);
    let jo_id = jo.body["id"].as_str().unwrap().to_string();
    scim.post(
        "/Users",
        json!({ "schemas": [USER], "userName": "ann@acme.example",
                "emails": [{ "value": "jo@acme.example", "type": "home" }] }),
    )
    .await;
    let find = |filter: &'static str| {
        let scim = &scim;
        async move {
            let q: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
            scim.get(&format!("/Users?filter={q}")).await.body
        }
    };
    let found = find(r#"emails[type eq "work"].value eq "jo@acme.example""#).await;
    assert_eq!(found["totalResults"], 1, "{found}");
    assert_eq!(found["Resources"][0]["id"], jo_id.as_str());
    // Any address, of any type; and a type alone.
    assert_eq!(find(r#"emails.value eq "jo@home.test""#).await["totalResults"], 1);
    assert_eq!(find(r#"emails[value eq "jo@acme.example"]"#).await["totalResults"], 2);
    assert_eq!(find(r#"emails[type eq "home"]"#).await["totalResults"], 2);
    // A changed address is found by its new value only.
    let r = scim
        .patch(
            &format!("/Users/{jo_id}"),
            json!([{ "op": "replace", "path": "emails[type eq \"work\"].value", "value": "jo.new@acme.example" }]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        find(r#"emails[type eq "work"].value eq "jo@acme.example""#).await["totalResults"],
        0
    );
    assert_eq!(
        find(r#"emails[type eq "work"].value eq "jo.new@acme.example""#).await["totalResults"],
        1
    );
}
