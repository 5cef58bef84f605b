//! The provisioning engine through the admin API (preview, explain) and the store's
//! plan application, on both backends. Sign-ins are applied the way the SSO endpoints
//! apply them: facts → state → plan → apply, in one write transaction (J10).

use crate::helpers::{spawn_app, Backend, TestApp};
use roster_core::plan::{plan_sign_in, SignIn, Step};
use roster_core::signin::{read_facts, RawAttributes};
use roster_core::Protocol;
use roster_server::service;
use roster_store::{connections, provisioning, Ctx, Store, StoreError};
use serde_json::{json, Value};

crate::on_both_backends!(
    preview_shows_the_plan_and_changes_nothing,
    sign_in_applies_once_with_rules_and_explains_itself,
    preview_input_forms_and_errors,
    jit_off_denies_strangers_with_the_spec_message,
    attribute_names_of_the_connection_come_first,
    a_failing_sign_in_changes_nothing,
);

pub(crate) async fn setup(app: &TestApp, jit: bool) -> String {
    app.create_org("acme", Some(10)).await;
    app.post_ok(
        "/api/v1/organizations",
        json!({ "name": "beta", "company": "acme" }),
        201,
    )
    .await;
    app.verified_domain("acme", "example.com").await;
    let mut body = json!({
        "company": "acme", "name": "okta", "protocol": "saml", "domains": ["example.com"],
        "organizations": ["acme", "beta"], "default_organization": "acme", "default_team": "everyone"
    });
    if !jit {
        body["jit"] = json!(false);
        body["scim"] = json!(true);
    }
    app.post_ok("/api/v1/connections", body, 201).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

pub(crate) async fn preview(app: &TestApp, connection: &str, body: Value) -> Value {
    let a = app
        .post(&format!("/api/v1/connections/{connection}/preview"), body)
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body
}

/// What a sign-in planned, and applied when allowed.
#[derive(Debug)]
struct Signed {
    allowed: bool,
    /// The steps as the preview lists them.
    changes: Vec<Step>,
}

/// Signs in as the ACS will: one write transaction from state to applied plan (without
/// the session, so that a sign-in with nothing to do writes nothing).
async fn sign_in(app: &TestApp, connection: &str, attributes: Value) -> Result<Signed, StoreError> {
    let store = Store::connect(&app.db.url, Default::default()).await.unwrap();
    let raw = raw(attributes);
    let connection = connection.to_string();
    let now = app.clock.now();
    let result = store
        .write(move |db| {
            Box::pin(async move {
                let c = connections::find(db, &connection).await?;
                let facts = read_facts(&raw, Protocol::Saml, &c.attribute_names)
                    .map_err(|d| StoreError::rule("denied", d.message))?;
                let (outcome, known) = service::sign_in::plan(db, &c, &facts, now).await?;
                let SignIn::Allowed(allowed) = outcome else {
                    return Ok(Signed {
                        allowed: false,
                        changes: Vec::new(),
                    });
                };
                let ctx = Ctx::new("sso", None, "test-sign-in", now).via_connection(&c.id);
                provisioning::apply_with(db, &ctx, &allowed.plan, &c, known).await?;
                Ok(Signed {
                    allowed: true,
                    changes: allowed.plan.steps(),
                })
            })
        })
        .await;
    store.close().await;
    result
}

fn raw(attributes: Value) -> RawAttributes {
    let mut values = std::collections::BTreeMap::new();
    let mut name_id = None;
    for (k, v) in attributes.as_object().unwrap() {
        let vals: Vec<String> = match v {
            Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
            other => vec![other.as_str().unwrap().to_string()],
        };
        if k == "NameID" {
            name_id = vals.into_iter().next();
        } else {
            values.insert(k.clone(), vals);
        }
    }
    RawAttributes { values, name_id }
}

fn kinds(plan: &Value) -> Vec<String> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let mut s = c["kind"].as_str().unwrap().to_string();
            if let Some(o) = c["organization"].as_str() {
                s.push_str(&format!(" {o}"));
            }
            if let Some(t) = c["team"].as_str() {
                s.push_str(&format!("/{t}"));
            }
            if let Some(r) = c["role"].as_str() {
                s.push_str(&format!(" {r}"));
            }
            format!("{s} [{}]", c["rule"].as_str().unwrap())
        })
        .collect()
}

async fn preview_shows_the_plan_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = setup(&app, true).await;
    let attrs = json!({
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname": ["Jo"],
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname": "Bloggs",
        "groups": ["acme:eng", "beta:ops", "Developers"],
        "dockerRole": "editor",
        "dockerSessionMinutes": "0"
    });
    let p = preview(&app, &id, json!({ "attributes": attrs, "name_id": "jo@example.com" })).await;
    assert_eq!(p["allowed"], true);
    assert_eq!(p["denial"], Value::Null);
    assert_eq!(
        p["user"],
        json!({ "email": "jo@example.com", "full_name": "Jo Bloggs", "exists": false })
    );
    assert_eq!(
        kinds(&p),
        [
            "create_user [J2]",
            "add_membership acme editor [G2]",
            "create_team acme/eng [G2]",
            "add_team_membership acme/eng [G2]",
            "add_membership beta editor [G2]",
            "create_team beta/ops [G2]",
            "add_team_membership beta/ops [G2]",
        ]
    );
    assert_eq!(
        p["changes"][1]["because"],
        "group 'acme:eng'; role from dockerRole = editor (J6)"
    );
    let rules: Vec<&str> = p["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["A5", "G3"], "{}", p["warnings"]);
    assert_eq!(p["session"]["minutes"], 1440);
    // Nothing changed.
    assert_eq!(app.get("/api/v1/users/jo@example.com").await.status, 404);
    assert_eq!(app.get("/api/v1/organizations/acme/teams").await.body, json!([]));
    assert!(app.audit("").await.iter().all(|e| e["actor"]["kind"] != "sso"));
}

async fn sign_in_applies_once_with_rules_and_explains_itself(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = setup(&app, true).await;
    let attrs = json!({ "NameID": "Jo@Example.com", "name": "Jo Bloggs", "dockerRole": "owner", "dockerTeam": "eng" });
    let plan = sign_in(&app, &id, attrs.clone()).await.unwrap();
    assert!(plan.allowed);
    assert_eq!(plan.changes.len(), 4, "{:?}", plan.changes);

    let m = app.get("/api/v1/organizations/acme/members/jo@example.com").await;
    assert_eq!(m.status, 200, "{}", m.body);
    assert_eq!(
        (
            m.body["role"].as_str(),
            m.body["source"].as_str(),
            m.body["state"].as_str()
        ),
        (Some("owner"), Some("jit"), Some("active"))
    );
    assert_eq!(m.body["teams"], json!(["eng"]));
    assert_eq!(
        app.get("/api/v1/users/jo@example.com").await.body["full_name"],
        "Jo Bloggs"
    );

    // The same sign-in again: nothing to do (and nothing done).
    let events_before = app.audit("").await.len();
    let p = preview(&app, &id, json!({ "attributes": { "name": "Jo Bloggs", "dockerRole": "owner", "dockerTeam": "eng" }, "name_id": "jo@example.com" })).await;
    assert_eq!(p["user"]["exists"], true);
    assert_eq!(kinds(&p), Vec::<String>::new());
    let again = sign_in(&app, &id, attrs).await.unwrap();
    assert!(again.changes.is_empty());
    assert_eq!(app.audit("").await.len(), events_before);

    // Every change is in the audit log with its rule, its reason and the connection.
    let events: Vec<Value> = app
        .audit(&format!("connection={id}"))
        .await
        .into_iter()
        .filter(|e| e["actor"]["kind"] == "sso")
        .collect();
    let mut by_action: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["rule"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    by_action.reverse();
    assert_eq!(
        by_action,
        [
            ("user.create".to_string(), "J2".to_string()),
            ("membership.add".into(), "J4".into()),
            ("team.create".into(), "J4".into()),
            ("team_member.add".into(), "J4".into()),
        ]
    );
    assert!(events
        .iter()
        .all(|e| e["actor"]["kind"] == "sso" && e["trace_id"] == "test-sign-in"));

    // An admin then changes the role; explain tells both stories.
    assert_eq!(
        app.add_member("acme", "other@example.com", "owner").await["role"],
        "owner"
    );
    assert_eq!(
        app.patch(
            "/api/v1/organizations/acme/members/jo@example.com",
            json!({ "role": "member" })
        )
        .await
        .status,
        200
    );
    let x = app
        .get("/api/v1/organizations/acme/members/jo@example.com/explain")
        .await;
    assert_eq!(x.status, 200, "{}", x.body);
    let ex = &x.body;
    assert_eq!(ex["membership"]["role"], "member");
    assert_eq!(ex["membership"]["source"], "jit");
    assert_eq!(ex["membership"]["added"]["rule"], "J4");
    assert_eq!(ex["membership"]["added"]["actor"], "sso");
    assert_eq!(ex["membership"]["added"]["connection_id"], id.as_str());
    assert!(
        ex["membership"]["added"]["because"]
            .as_str()
            .unwrap()
            .contains("dockerTeam = eng"),
        "{ex}"
    );
    assert_eq!(ex["membership"]["role_set"]["actor"], "admin");
    assert_eq!(ex["membership"]["state_set"]["rule"], "J4");
    assert_eq!(
        ex["teams"],
        json!([{ "team": "eng", "added": ex["teams"][0]["added"].clone() }])
    );
    assert_eq!(ex["teams"][0]["added"]["rule"], "J4");
    assert_eq!(
        ex["history"].as_array().unwrap().len(),
        3,
        "membership.add, team_member.add, membership.update: {ex}"
    );
    assert_eq!(
        app.get("/api/v1/organizations/beta/members/jo@example.com/explain")
            .await
            .status,
        404
    );
}

async fn preview_input_forms_and_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = setup(&app, true).await;
    // OIDC claims.
    let p = preview(&app, &id, json!({ "claims": { "sub": "1", "email": "ada@eu.example.com", "given_name": "Ada", "family_name": "L", "groups": ["beta:x"] } })).await;
    assert_eq!(p["allowed"], true);
    assert_eq!(p["user"]["full_name"], "Ada L");
    assert_eq!(kinds(&p)[1], "add_membership beta member [G2]");
    // Not an email: no user, the A4 message.
    let p = preview(&app, &id, json!({ "name_id": "00u1abcdef" })).await;
    assert_eq!(p["allowed"], false);
    assert_eq!(p["user"], Value::Null);
    assert_eq!(
        p["denial"]["message"],
        "The name ID sent by the identity provider is not an email address. Contact your company administrator."
    );
    // An unverified domain: the A4 message with the trace id.
    let a = app
        .post(
            &format!("/api/v1/connections/{id}/preview"),
            json!({ "name_id": "x@other.test" }),
        )
        .await;
    let trace = a.headers["x-trace-id"].to_str().unwrap();
    assert_eq!(a.body["denial"]["code"], "domain_not_verified");
    assert_eq!(
        a.body["denial"]["message"],
        format!("Domain 'other.test' is not verified for your SSO connection. Contact your company administrator. TraceID: {trace}")
    );
    for (body, code) in [
        (json!({}), "invalid_body"),
        (json!({ "attributes": {}, "claims": {} }), "invalid_body"),
        (json!({ "claims": {}, "name_id": "a@example.com" }), "invalid_body"),
        (json!({ "attributes": { "x": 5 } }), "invalid_body"),
        (json!({ "nameid": "a@example.com" }), "invalid_body"),
    ] {
        let a = app
            .post(&format!("/api/v1/connections/{id}/preview"), body.clone())
            .await;
        assert_eq!(a.status, 400, "{body}: {}", a.body);
        assert_eq!(a.error_code(), code);
    }
    assert_eq!(
        app.post(
            "/api/v1/connections/nope/preview",
            json!({ "name_id": "a@example.com" })
        )
        .await
        .status,
        404
    );
}

async fn jit_off_denies_strangers_with_the_spec_message(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = setup(&app, false).await;
    let a = app
        .post(
            &format!("/api/v1/connections/{id}/preview"),
            json!({ "name_id": "stranger@example.com", "attributes": { "groups": ["acme:eng"] } }),
        )
        .await;
    let trace = a.headers["x-trace-id"].to_str().unwrap();
    assert_eq!(a.body["allowed"], false);
    assert_eq!(a.body["denial"]["code"], "not_assigned");
    assert_eq!(
        a.body["denial"]["message"],
        format!("User 'stranger@example.com' is not assigned to this SSO organization. Contact your administrator. TraceID: {trace}")
    );
    assert_eq!(a.body["changes"], json!([]));
    let err = sign_in(&app, &id, json!({ "NameID": "stranger@example.com" }))
        .await
        .unwrap();
    assert!(!err.allowed);
    assert_eq!(
        app.get("/api/v1/users/stranger@example.com").await.status,
        404,
        "J2: a denied sign-in creates nothing"
    );
    // An invitee gets in, through the invitation.
    app.post_ok(
        "/api/v1/organizations/beta/invitations",
        json!({ "email": "new@example.com", "role": "editor" }),
        201,
    )
    .await;
    let plan = sign_in(&app, &id, json!({ "NameID": "new@example.com" }))
        .await
        .unwrap();
    assert!(plan.allowed);
    let m = app.get("/api/v1/organizations/beta/members/new@example.com").await;
    assert_eq!(
        (m.body["role"].as_str(), m.body["source"].as_str()),
        (Some("editor"), Some("invite"))
    );
    assert_eq!(
        app.get("/api/v1/organizations/beta/invitations").await.body,
        json!([]),
        "the invitation was accepted"
    );
    assert_eq!(app.get("/api/v1/organizations/beta").await.body["seats_used"], 1);
    // J3: an invitation to a team puts the invitee in that team, with its role.
    app.post_ok("/api/v1/organizations/beta/teams", json!({ "name": "research" }), 201)
        .await;
    app.post_ok(
        "/api/v1/organizations/beta/invitations",
        json!({ "email": "second@example.com", "role": "owner", "team": "research" }),
        201,
    )
    .await;
    let plan = sign_in(&app, &id, json!({ "NameID": "second@example.com" }))
        .await
        .unwrap();
    assert!(plan.allowed);
    let m = app.get("/api/v1/organizations/beta/members/second@example.com").await;
    assert_eq!(
        (m.body["role"].as_str(), m.body["source"].as_str()),
        (Some("owner"), Some("invite"))
    );
    assert!(
        m.body["teams"].as_array().unwrap().contains(&json!("research")),
        "{}",
        m.body
    );
}

async fn attribute_names_of_the_connection_come_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = setup(&app, true).await;
    let a = app
        .patch(
            &format!("/api/v1/connections/{id}"),
            json!({ "attribute_names": { "email": ["mail"], "groups": ["memberOf"] } }),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body["attribute_names"],
        json!({ "email": ["mail"], "groups": ["memberOf"] })
    );
    let p = preview(&app, &id, json!({ "attributes": { "mail": "m@example.com", "email": "e@example.com", "memberOf": "beta:x", "groups": "acme:y" } })).await;
    assert_eq!(p["user"]["email"], "m@example.com");
    assert_eq!(kinds(&p)[1], "add_membership beta member [G2]");
    let a = app
        .patch(
            &format!("/api/v1/connections/{id}"),
            json!({ "attribute_names": { "email": [""] } }),
        )
        .await;
    assert_eq!(a.status, 400);
    let a = app
        .patch(
            &format!("/api/v1/connections/{id}"),
            json!({ "attribute_names": { "mail": ["x"] } }),
        )
        .await;
    assert_eq!(a.status, 400, "unknown fact names are refused");
    // Replacing the SAML settings keeps the attribute names.
    let a = app
        .patch(
            &format!("/api/v1/connections/{id}"),
            json!({ "saml": { "idp_entity_id": "urn:x" } }),
        )
        .await;
    assert_eq!(a.body["attribute_names"]["email"], json!(["mail"]));
}

/// J10: if applying fails half-way, nothing of the sign-in stays.
async fn a_failing_sign_in_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = setup(&app, true).await;
    assert_eq!(
        app.patch("/api/v1/organizations/beta", json!({ "seat_limit": 0 }))
            .await
            .status,
        200
    );
    // Planned on a state where beta had room (as a concurrent admin change could make
    // it): the user is created, acme joined, then beta's seat check fails.
    let store = Store::connect(&app.db.url, Default::default()).await.unwrap();
    let now = app.clock.now();
    let id2 = id.clone();
    let result = store
        .write(move |db| {
            Box::pin(async move {
                let c = connections::find(db, &id2).await?;
                let raw = raw(json!({ "NameID": "jo@example.com", "groups": ["acme:eng", "beta:ops"] }));
                let facts = read_facts(&raw, Protocol::Saml, &Default::default()).unwrap();
                let (mut state, known) =
                    provisioning::load(db, &c, &facts.email.value, &facts.team_names(), now).await?;
                state
                    .connection
                    .organizations
                    .iter_mut()
                    .for_each(|o| o.seat_limit = None);
                let SignIn::Allowed(allowed) = plan_sign_in(&state, &facts) else {
                    panic!("planned on a state with room");
                };
                assert_eq!(allowed.plan.steps().len(), 7);
                provisioning::apply_with(db, &Ctx::new("sso", None, "t", now), &allowed.plan, &c, known).await
            })
        })
        .await;
    store.close().await;
    assert!(
        matches!(&result, Err(StoreError::Rule(e)) if e.code == "seat_limit_reached"),
        "{result:?}"
    );
    assert_eq!(app.get("/api/v1/users/jo@example.com").await.status, 404);
    assert_eq!(app.get("/api/v1/organizations/acme/teams").await.body, json!([]));
    assert!(
        app.audit("").await.iter().all(|e| e["actor"]["kind"] != "sso"),
        "no audit event of the failed sign-in"
    );
}
