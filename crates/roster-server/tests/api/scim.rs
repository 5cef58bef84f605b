//! The SCIM server over HTTP, on both backends: the request sequences Okta and Microsoft
//! Entra ID send, hostile input, tenant isolation, concurrency, paging and versions.

use crate::helpers::{spawn_app, Backend, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

crate::on_both_backends!(
    okta_sequence,
    entra_sequence,
    hostile_requests_get_scim_errors,
    tenants_are_isolated,
);

pub(crate) const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub(crate) const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(crate) const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A company `name` with a verified domain, two organizations and a SCIM connection;
/// returns the connection id and a SCIM token.
pub(crate) async fn setup(app: &TestApp, name: &str, domain: &str) -> (String, String) {
    app.create_org(name, None).await;
    app.post_ok(
        "/api/v1/organizations",
        json!({ "name": format!("{name}-eu"), "company": name }),
        201,
    )
    .await;
    app.verified_domain(name, domain).await;
    let c = app
        .post_ok(
            "/api/v1/connections",
            json!({ "company": name, "name": format!("{name}-idp"), "protocol": "saml", "domains": [domain],
                    "organizations": [name, format!("{name}-eu")], "default_organization": name,
                    "default_team": "everyone", "scim": true }),
            201,
        )
        .await;
    let id = c["id"].as_str().unwrap().to_string();
    let t = app
        .post_ok(&format!("/api/v1/connections/{id}/scim-tokens"), json!({}), 201)
        .await;
    (id, t["token"].as_str().unwrap().to_string())
}

pub(crate) struct Scim<'a> {
    pub(crate) app: &'a TestApp,
    pub(crate) token: String,
}

#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Value,
    pub(crate) headers: reqwest::header::HeaderMap,
}

impl Scim<'_> {
    pub(crate) async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self
            .app
            .client
            .request(method, self.app.url(&format!("/scim/v2{path}")))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.header("content-type", "application/scim+json").body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            headers,
        }
    }
    pub(crate) async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }
    pub(crate) async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }
    pub(crate) async fn patch(&self, path: &str, ops: Value) -> Reply {
        self.call(
            Method::PATCH,
            path,
            Some(json!({ "schemas": [PATCH_OP], "Operations": ops })),
        )
        .await
    }
}

/// Asserts a SCIM error: status, content type, `status` as a string, `scimType`.
pub(crate) fn assert_scim_error(r: &Reply, status: u16, scim_type: Option<&str>) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.headers["content-type"], "application/scim+json");
    assert_eq!(r.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
    assert_eq!(r.body["status"], status.to_string());
    assert_eq!(r.body["scimType"].as_str(), scim_type, "{}", r.body);
    assert!(r.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
}

pub(crate) async fn member(app: &TestApp, org: &str, email: &str) -> Value {
    let a = app.get(&format!("/api/v1/organizations/{org}/members/{email}")).await;
    if a.status == 404 {
        Value::Null
    } else {
        a.body
    }
}

async fn okta_sequence(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = setup(&app, "acme", "acme.test").await;
    let scim = Scim { app: &app, token };

    // Okta checks existence first.
    let r = scim
        .get("/Users?filter=userName%20eq%20%22jo%40acme.test%22&startIndex=1&count=100")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["totalResults"], 0);
    assert_eq!(r.body["Resources"], json!([]));
    assert_eq!(r.body["startIndex"], 1);
    assert_eq!(r.body["itemsPerPage"], 0);

    let okta_user = json!({
        "schemas": [USER], "userName": "jo@acme.test",
        "name": { "givenName": "Jo", "familyName": "Bloggs" },
        "emails": [{ "primary": true, "value": "jo@acme.test", "type": "work" }],
        "displayName": "Jo Bloggs", "locale": "en-US", "externalId": "00u1okta", "groups": [],
        "password": "hunter2", "active": true
    });
    let r = scim.post("/Users", okta_user.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.headers["location"], format!("{}/scim/v2/Users/{id}", app.base));
    assert_eq!(r.headers["etag"], "W/\"1\"");
    assert_eq!(r.body["meta"]["version"], "W/\"1\"");
    assert_eq!(r.body["userName"], "jo@acme.test");
    assert_eq!(r.body["displayName"], "jo", "displayName is the generated username");
    assert!(r.body.get("password").is_none());
    let m = member(&app, "acme", "jo@acme.test").await;
    assert_eq!(
        (m["role"].as_str(), m["state"].as_str(), m["source"].as_str()),
        (Some("member"), Some("active"), Some("scim"))
    );
    assert_eq!(m["teams"], json!(["everyone"]), "S5: default team");

    // The same userName again (any case) is a uniqueness conflict.
    let r = scim
        .post("/Users", json!({ "schemas": [USER], "userName": "JO@acme.test" }))
        .await;
    assert_scim_error(&r, 409, Some("uniqueness"));
    // S3: also when provisioning the second one would fail for another reason first: a
    // userName that is not an email, the second time with another email and an
    // organization this connection does not serve.
    let r = scim
        .post(
            "/Users",
            json!({ "schemas": [USER], "userName": "jsmith", "emails": [{ "value": "js@acme.test" }] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = scim
        .post(
            "/Users",
            json!({ "schemas": [USER], "userName": "JSmith", "emails": [{ "value": "other@acme.test" }],
                "urn:ietf:params:scim:schemas:extension:docker:2.0:User": { "dockerOrg": "nowhere" } }),
        )
        .await;
    assert_scim_error(&r, 409, Some("uniqueness"));

    let r = scim.get(&format!("/Users/{id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["externalId"], "00u1okta");

    // PUT with a new name.
    let mut put = okta_user.clone();
    put["name"] = json!({ "givenName": "Joanna", "familyName": "Bloggs" });
    put["id"] = json!(id);
    let r = scim.call(Method::PUT, &format!("/Users/{id}"), Some(put)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"]["givenName"], "Joanna");
    assert_eq!(r.body["meta"]["version"], "W/\"2\"");
    assert_eq!(
        app.get("/api/v1/users/jo@acme.test").await.body["full_name"],
        "Joanna Bloggs"
    );

    // Path-less deactivation (S6): memberships deactivated, teams kept.
    let r = scim
        .patch(
            &format!("/Users/{id}"),
            json!([{ "op": "replace", "value": { "active": false } }]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["active"], false);
    let m = member(&app, "acme", "jo@acme.test").await;
    assert_eq!(m["state"], "deactivated");
    assert_eq!(m["teams"], json!(["everyone"]));
    // Reactivation.
    let r = scim
        .patch(
            &format!("/Users/{id}"),
            json!([{ "op": "replace", "value": { "active": true } }]),
        )
        .await;
    assert_eq!(r.body["active"], true);
    assert_eq!(member(&app, "acme", "jo@acme.test").await["state"], "active");

    // DELETE: deactivated and unlinked; the account stays.
    let r = scim.call(Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(r.status, 204);
    assert_eq!(scim.get(&format!("/Users/{id}")).await.status, 404);
    assert_eq!(app.get("/api/v1/users/jo@acme.test").await.status, 200);
    assert_eq!(member(&app, "acme", "jo@acme.test").await["state"], "deactivated");
}

async fn entra_sequence(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = setup(&app, "acme", "acme.test").await;
    let scim = Scim { app: &app, token };

    let r = scim
        .get("/Users?filter=userName+eq+%22ada%40acme.test%22&aadOptscim062020")
        .await;
    assert_eq!((r.status, r.body["totalResults"].as_i64()), (200, Some(0)));
    let r = scim
        .post(
            "/Users",
            json!({
                "schemas": [USER, ENTERPRISE], "externalId": "ada", "userName": "ada@acme.test", "active": true,
                "displayName": "Ada L", "emails": [{ "primary": true, "type": "work", "value": "ada@acme.test" }],
                "name": { "formatted": "Ada Lovelace", "familyName": "Lovelace", "givenName": "Ada" },
                ENTERPRISE: { "department": "Engines", "employeeNumber": "1815" },
                "urn:ietf:params:scim:schemas:extension:docker:2.0:User": { "dockerRole": "editor", "dockerOrg": "acme-eu", "dockerTeam": "analysts" }
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body[ENTERPRISE]["department"], "Engines");
    let m = member(&app, "acme-eu", "ada@acme.test").await;
    assert_eq!(
        (m["role"].as_str(), m["teams"].clone()),
        (Some("editor"), json!(["analysts"])),
        "S5 from the docker extension"
    );

    // Capitalised op, string boolean, path given; Entra's email value path.
    let r = scim
        .patch(
            &format!("/Users/{id}"),
            json!([
                { "op": "Replace", "path": "active", "value": "False" },
                { "op": "Add", "path": "emails[type eq \"work\"].value", "value": "ada@acme.test" },
                { "op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:docker:2.0:User:dockerRole", "value": "owner" }
            ]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["active"], false);
    let m = member(&app, "acme-eu", "ada@acme.test").await;
    assert_eq!(
        (m["state"].as_str(), m["role"].as_str()),
        (Some("deactivated"), Some("owner")),
        "S5: dockerRole updates change the role"
    );
    // Filter by the extension attribute and by externalId.
    let r = scim.get("/Users?filter=urn%3Aietf%3Aparams%3Ascim%3Aschemas%3Aextension%3Aenterprise%3A2.0%3AUser%3AemployeeNumber%20eq%20%221815%22").await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    let r = scim
        .get("/Users?filter=externalId%20eq%20%22ada%22%20and%20active%20eq%20false")
        .await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    // A bare token, without "Bearer", and plain JSON are accepted.
    let resp = app
        .client
        .get(app.url(&format!("/scim/v2/Users/{id}")))
        .header("authorization", &scim.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = app
        .client
        .patch(app.url(&format!("/scim/v2/Users/{id}")))
        .bearer_auth(&scim.token)
        .header("content-type", "application/json")
        .body(
            json!({ "schemas": [PATCH_OP], "operations": [{ "op": "replace", "path": "title", "value": null }] })
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // A trailing slash on the base path.
    let resp = app
        .client
        .get(app.url(&format!("/scim/v2//Users/{id}")))
        .bearer_auth(&scim.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

async fn hostile_requests_get_scim_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = setup(&app, "acme", "acme.test").await;
    let scim = Scim { app: &app, token };
    let raw = |body: &str| {
        app.client
            .post(app.url("/scim/v2/Users"))
            .bearer_auth(&scim.token)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
    };
    let r = raw("{\"userName\": ").await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["scimType"], "invalidSyntax");
    let r = raw("[]").await.unwrap();
    assert_eq!(r.status(), 400);
    assert_scim_error(
        &scim.post("/Users", json!({ "name": {} })).await,
        400,
        Some("invalidValue"),
    );
    assert_scim_error(
        &scim.get("/Users?filter=userName%20zz%20%22x%22").await,
        400,
        Some("invalidFilter"),
    );
    // A 100 KB filter (too long for a URL, so through /.search).
    let long = format!("userName eq \"{}\"", "x".repeat(100 * 1024));
    assert_scim_error(
        &scim.post("/Users/.search", json!({ "filter": long })).await,
        400,
        Some("invalidFilter"),
    );
    let deep = format!("{}userName pr{}", "(".repeat(500), ")".repeat(500));
    let r = app
        .client
        .get(app.url("/scim/v2/Users"))
        .query(&[("filter", deep.as_str())])
        .bearer_auth(&scim.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["scimType"], "invalidFilter");
    // 10 MB: read to the end and refused with a SCIM 413 (nothing stored).
    let huge = format!("{{\"userName\": \"{}@acme.test\"}}", "x".repeat(10 * 1024 * 1024));
    let r = raw(&huge).await.unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.headers()["content-type"], "application/scim+json");
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "413");
    for token in ["", "Bearer nope", "Bearer scim_00000000000000000000000000000000_x"] {
        let r = app
            .client
            .get(app.url("/scim/v2/Users"))
            .header("authorization", token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{token}");
        assert_eq!(r.headers()["content-type"], "application/scim+json");
    }
    assert_scim_error(&scim.get("/Nope").await, 404, None);
    assert_scim_error(&scim.get("/Users?count=ten").await, 400, Some("invalidValue"));
    let r = scim.post("/Users", json!({ "userName": "z@acme.test" })).await;
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_scim_error(
        &scim
            .patch(
                &format!("/Users/{id}"),
                json!([{ "op": "merge", "path": "title", "value": 1 }]),
            )
            .await,
        400,
        Some("invalidSyntax"),
    );
    assert_scim_error(
        &scim
            .patch(
                &format!("/Users/{id}"),
                json!([{ "op": "replace", "path": "groups", "value": [] }]),
            )
            .await,
        400,
        Some("mutability"),
    );
    // No 500 anywhere, and nothing was created by the refused requests.
    assert_eq!(scim.get("/Users").await.body["totalResults"], 1);
}

async fn tenants_are_isolated(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token_a) = setup(&app, "acme", "acme.test").await;
    let (conn_b, token_b) = setup(&app, "globex", "globex.test").await;
    let a = Scim {
        app: &app,
        token: token_a,
    };
    let b = Scim {
        app: &app,
        token: token_b.clone(),
    };
    let r = b.post("/Users", json!({ "userName": "hank@globex.test" })).await;
    let hank = r.body["id"].as_str().unwrap().to_string();
    let r = b.post("/Groups", json!({ "displayName": "globex:eng" })).await;
    let group = r.body["id"].as_str().unwrap().to_string();
    // Another company's ids do not exist for this token.
    assert_eq!(a.get(&format!("/Users/{hank}")).await.status, 404);
    assert_eq!(a.get(&format!("/Groups/{group}")).await.status, 404);
    assert_eq!(
        a.call(Method::DELETE, &format!("/Users/{hank}"), None).await.status,
        404
    );
    assert_eq!(
        a.patch(
            &format!("/Users/{hank}"),
            json!([{ "op": "replace", "value": { "active": false } }])
        )
        .await
        .status,
        404
    );
    assert_eq!(
        a.get("/Users?filter=userName%20eq%20%22hank%40globex.test%22")
            .await
            .body["totalResults"],
        0
    );
    assert_eq!(a.get("/Users").await.body["totalResults"], 0);
    let r = a
        .post(
            "/Groups",
            json!({ "displayName": "acme:x", "members": [{ "value": hank }] }),
        )
        .await;
    assert_scim_error(&r, 400, Some("invalidValue"));
    // S1: a company's SCIM cannot create an account in another company's domain.
    let r = a.post("/Users", json!({ "userName": "ceo@globex.test" })).await;
    assert_eq!(r.status, 201, "the resource is kept…");
    assert_eq!(
        app.get("/api/v1/users/ceo@globex.test").await.status,
        404,
        "…but no account is made outside acme's domains"
    );
    // Using a token is recorded on it.
    let tokens = app.get(&format!("/api/v1/connections/{conn_b}/scim-tokens")).await.body;
    assert!(tokens[0]["last_used_at"].is_string(), "{tokens}");
    // Revocation and SCIM off take effect at once.
    let tokens = app.get(&format!("/api/v1/connections/{conn_b}/scim-tokens")).await.body;
    let tid = tokens[0]["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/v1/connections/{conn_b}/scim-tokens/{tid}"))
            .await
            .status,
        204
    );
    assert_scim_error(&b.get("/Users").await, 401, None);
    let (conn_a, _) = (
        app.get("/api/v1/connections/acme-idp").await.body["id"]
            .as_str()
            .unwrap()
            .to_string(),
        (),
    );
    assert_eq!(
        app.patch(&format!("/api/v1/connections/{conn_a}"), json!({ "scim": false }))
            .await
            .status,
        200
    );
    assert_scim_error(&a.get("/Users").await, 403, None);
}
