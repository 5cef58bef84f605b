//! SAML sign-in against SCIM provisioning, on both backends: JIT off (J8), and SCIM
//! deactivation ending the session (T2) without JIT undoing it (J7).

use crate::helpers::{spawn_app, Backend};
use crate::saml::{me, new_request, post_acs, setup, spec, IDP_ENTITY};
use roster_testidp::{Idp, Shape};
use serde_json::json;

crate::on_both_backends!(jit_off_denies_strangers_and_scim_deactivation_ends_sessions);

async fn jit_off_denies_strangers_and_scim_deactivation_ends_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let idp = Idp::rsa(IDP_ENTITY);
    let conn = setup(&app, &idp, json!({"scim": true, "jit": false})).await;
    // J8: with JIT off, someone SCIM has not provisioned is denied, and nothing is made.
    let s = spec(&app, &conn, Shape::Okta, "stranger@acme.test").in_response_to(&new_request(&app, &conn).await);
    let a = post_acs(&app, &conn, &idp.response(&s), None).await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(
        a.body.contains("User &#39;stranger@acme.test&#39; is not assigned to this SSO organization. Contact your administrator. TraceID: "),
        "{}",
        a.body
    );
    assert!(a.cookie().is_none());
    assert_eq!(app.get("/api/v1/users").await.body.as_array().unwrap().len(), 0);

    // Provisioned by SCIM, Ann signs in and her session shows the membership.
    let token = app
        .post_ok(&format!("/api/v1/connections/{conn}/scim-tokens"), json!({}), 201)
        .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let user =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ann@acme.test", "active": true});
    let created = app
        .request(reqwest::Method::POST, "/scim/v2/Users", Some(&token), Some(user))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let s = spec(&app, &conn, Shape::Okta, "ann@acme.test").in_response_to(&new_request(&app, &conn).await);
    let a = post_acs(&app, &conn, &idp.response(&s), None).await;
    assert_eq!(a.status, 303, "{}", a.body);
    let cookie = a.cookie().unwrap();
    let (status, body) = me(&app, &cookie).await;
    assert_eq!(status, 200);
    assert_eq!(body["memberships"][0]["organization"], "acme", "{body}");

    // T2: deactivation by SCIM ends her session at once; J7: a sign-in does not
    // reactivate her.
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "replace", "value": {"active": false}}]});
    let p = app
        .request(
            reqwest::Method::PATCH,
            &format!("/scim/v2/Users/{id}"),
            Some(&token),
            Some(patch),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(me(&app, &cookie).await.0, 401);
    let s = spec(&app, &conn, Shape::Okta, "ann@acme.test").in_response_to(&new_request(&app, &conn).await);
    let a = post_acs(&app, &conn, &idp.response(&s), None).await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.cookie().is_none());
}
