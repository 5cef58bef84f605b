//! The mapping playground with everything an IdP sends: a signed SAML Response (as XML
//! or as the base64 a browser posts), a SCIM User, and the picture of how the groups
//! map; nothing is changed. The same reading serves the admin API's `preview`.

use crate::console::{csrf, get, operator, post};
use crate::helpers::{spawn_app, Backend};
use crate::saml::{setup, spec, IDP_ENTITY};
use roster_testidp::{post_field, Idp, Shape};
use serde_json::json;

crate::on_both_backends!(the_playground_reads_saml_documents_and_scim_users_and_draws_the_groups);

async fn the_playground_reads_saml_documents_and_scim_users_and_draws_the_groups(backend: Backend) {
    let app = spawn_app(backend).await;
    let idp = Idp::rsa(IDP_ENTITY);
    let conn = setup(&app, &idp, json!({})).await;
    let cookie = operator(&app).await;
    let play = format!("/admin/connections/{conn}/playground");
    let token = csrf(&get(&app, &play, &cookie).await.body);
    let run = |input: String| {
        let (app, cookie, token, play) = (&app, &cookie, &token, &play);
        async move { post(app, play, cookie, &[("input", &input), ("_csrf", token)]).await }
    };

    // A signed Response, as XML and as its base64: the NameID and the attributes.
    let xml = idp.response(
        &spec(&app, &conn, Shape::Okta, "zed@acme.test").attr("groups", &["acme:eng", "plain", "nowhere:ops"]),
    );
    for input in [xml.clone(), post_field(&xml)] {
        let p = run(input).await;
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(
            p.body.contains("would be allowed") && p.body.contains("zed@acme.test"),
            "{}",
            p.body
        );
        // The picture: each group to what it gives, or why it is ignored.
        assert!(p.body.contains("How the groups map"), "{}", p.body);
        assert!(p.body.contains("<span class=\"from\">acme:eng</span>"), "{}", p.body);
        assert!(p.body.contains("team eng"), "{}", p.body);
        assert!(p.body.contains("<span class=\"from\">plain</span>"), "{}", p.body);
        assert!(p.body.contains("ignored: it is not organization:team"), "{}", p.body);
        assert!(p.body.contains("<span class=\"from\">nowhere:ops</span>"), "{}", p.body);
    }
    // What is not SAML says so.
    let p = run("<not-closed".into()).await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("does not parse"), "{}", p.body);
    let p = run("bm90IHhtbA==".into()).await;
    assert_eq!(p.status, 400);

    // A SCIM User: what creating it would do.
    let scim = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "sam@acme.test",
        "name": {"givenName": "Sam", "familyName": "Lee"}, "active": true});
    let p = run(scim.to_string()).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.body.contains("would be allowed") && p.body.contains("sam@acme.test"),
        "{}",
        p.body
    );
    assert!(
        p.body.contains("create_user") && p.body.contains("add_membership"),
        "{}",
        p.body
    );
    // Outside the connection's verified domains: kept without an account (S1).
    let outside = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "eve@elsewhere.test"});
    let p = run(outside.to_string()).await;
    assert!(p.body.contains("kept without an account"), "{}", p.body);

    // Nothing changed.
    for who in ["zed@acme.test", "sam@acme.test", "eve@elsewhere.test"] {
        assert_eq!(app.get(&format!("/api/v1/users/{who}")).await.status, 404, "{who}");
    }

    // The admin API reads the same.
    let a = app
        .post(
            &format!("/api/v1/connections/{conn}/preview"),
            json!({"saml_response": post_field(&xml)}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["user"]["email"], "zed@acme.test");
    let a = app
        .post(
            &format!("/api/v1/connections/{conn}/preview"),
            json!({"scim_user": scim}),
        )
        .await;
    assert_eq!(
        (a.status.as_u16(), a.body["allowed"].as_bool()),
        (200, Some(true)),
        "{}",
        a.body
    );
    let a = app
        .post(
            &format!("/api/v1/connections/{conn}/preview"),
            json!({"scim_user": scim, "claims": {"email": "x@acme.test"}}),
        )
        .await;
    assert_eq!(a.status.as_u16(), 400, "{}", a.body);
}
