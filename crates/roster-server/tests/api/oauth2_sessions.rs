//! What apps were granted ends with the Roster session: leavers lose everything at once
//! and the apps that asked are told (back-channel logout), RP-initiated logout, and a
//! fresh sign-in for one app that keeps the others'.

use crate::events::page_when;
use crate::helpers::{spawn_app, Backend, TestApp};
use crate::oauth2::{authorize_path, browse, code_for, exchange, jwks, query_of, refresh, register, userinfo};
use crate::saml::{login, no_redirects, request_id, setup, spec, IDP_ENTITY};
use base64::Engine;
use reqwest::header::{LOCATION, SET_COOKIE};
use roster_oidc::verify_signature;
use roster_testidp::{Idp, Shape};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

crate::on_both_backends!(
    leavers_lose_access_and_apps_are_told,
    rp_initiated_logout,
    a_fresh_sign_in_for_one_app_keeps_the_others,
);

/// A back-channel logout receiver: the logout tokens posted to it.
async fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let kept = got.clone();
    let router = axum::Router::new().route(
        "/backchannel",
        axum::routing::post(move |body: String| {
            let kept = kept.clone();
            async move {
                let token = url::form_urlencoded::parse(body.as_bytes())
                    .find(|(k, _)| k == "logout_token")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                kept.lock().unwrap().push(token);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}/backchannel"), got)
}

async fn leavers_lose_access_and_apps_are_told(backend: Backend) {
    let app = spawn_app(backend).await;
    let idp = Idp::rsa(IDP_ENTITY);
    let conn = setup(&app, &idp, json!({"scim": true})).await;
    let (uri, received) = receiver().await;
    let (client_id, secret) = register(&app, json!({"backchannel_logout_uri": uri})).await;
    let secret = secret.unwrap();
    let client = (client_id.as_str(), secret.as_str());
    let (q, cookie) = code_for(&app, &idp, &conn, &client_id, &[("login_hint", "ann@acme.test")], None).await;
    let (_, tokens) = exchange(&app, client, q["code"].as_str().unwrap(), None).await;
    let id_token = tokens["id_token"].as_str().unwrap().to_string();
    let claims = verify_signature(&id_token, &jwks(&app).await).unwrap();
    let (user_id, sid) = (
        claims["sub"].as_str().unwrap().to_string(),
        claims["sid"].as_str().unwrap().to_string(),
    );

    // The admin deactivates the member (T2).
    let a = app
        .patch(
            &format!("/api/v1/organizations/acme/members/{user_id}"),
            json!({"state": "deactivated"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let (status, r) = refresh(&app, client, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!((status, r["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(userinfo(&app, tokens["access_token"].as_str().unwrap()).await.0, 401);
    // The session ended too: no code without signing in again.
    let (_, location, _) = browse(&app, &authorize_path(&client_id, &[("prompt", "none")]), Some(&cookie)).await;
    assert_eq!(query_of(&location)["error"], "login_required");

    // The app hears of it: one logout token, signed by Roster, naming the person and
    // the session, with the logout event and no nonce.
    let got = logouts(&received, 1).await;
    let logout = verify_signature(&got[0], &jwks(&app).await).unwrap();
    assert_eq!(logout["iss"], app.base);
    assert_eq!(logout["aud"], client_id.as_str());
    assert_eq!(logout["sub"], user_id.as_str());
    assert_eq!(logout["sid"], sid.as_str());
    assert!(logout["events"]
        .get("http://schemas.openid.net/event/backchannel-logout")
        .is_some());
    assert!(logout.get("nonce").is_none());
    let head = got[0].split('.').next().unwrap();
    let head: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(head).unwrap()).unwrap();
    assert_eq!(head["typ"], "logout+jwt");
    // One receipt lists what the deactivation ended, after the session's revocation.
    let receipt = receipt_of(&app, &user_id).await;
    assert_eq!(receipt["cause"]["source"], "admin");
    assert_eq!(
        receipt["data"]["state"],
        json!({"memberships": [{"organization_id": receipt["organization"], "organization": "acme", "state": "deactivated"}],
               "sessions_ended": 1, "app_grants_revoked": 1, "refresh_tokens_revoked": 1,
               "apps_notified": ["Dashboard"]})
    );

    // A SCIM deactivation (S6, T2): the same, at once.
    let token = app
        .post_ok(&format!("/api/v1/connections/{conn}/scim-tokens"), json!({}), 201)
        .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let user =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bob@acme.test", "active": true});
    let created = app
        .request(reqwest::Method::POST, "/scim/v2/Users", Some(&token), Some(user))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let (q, _) = code_for(&app, &idp, &conn, &client_id, &[("login_hint", "bob@acme.test")], None).await;
    let (_, bob) = exchange(&app, client, q["code"].as_str().unwrap(), None).await;
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "value": {"active": false}}]});
    let scim_id = created.body["id"].as_str().unwrap();
    let p = app
        .request(
            reqwest::Method::PATCH,
            &format!("/scim/v2/Users/{scim_id}"),
            Some(&token),
            Some(patch),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(
        refresh(&app, client, bob["refresh_token"].as_str().unwrap()).await.0,
        400
    );
    assert_eq!(userinfo(&app, bob["access_token"].as_str().unwrap()).await.0, 401);
    let got = logouts(&received, 2).await;
    let bob_sub = verify_signature(bob["id_token"].as_str().unwrap(), &jwks(&app).await).unwrap()["sub"].clone();
    assert_eq!(verify_signature(&got[1], &jwks(&app).await).unwrap()["sub"], bob_sub);
    let receipt = receipt_of(&app, bob_sub.as_str().unwrap()).await;
    assert_eq!(
        (receipt["cause"]["source"].as_str(), receipt["cause"]["rule"].as_str()),
        (Some("scim"), Some("S6"))
    );
    assert_eq!(receipt["data"]["state"]["sessions_ended"], 1);
    assert_eq!(receipt["data"]["state"]["refresh_tokens_revoked"], 1);
    assert_eq!(receipt["data"]["state"]["apps_notified"], json!(["Dashboard"]));

    // Deleting the connection ends everyone's grants through it.
    let (q, _) = code_for(&app, &idp, &conn, &client_id, &[("login_hint", "cy@acme.test")], None).await;
    let (_, cy) = exchange(&app, client, q["code"].as_str().unwrap(), None).await;
    assert_eq!(app.delete(&format!("/api/v1/connections/{conn}")).await.status, 204);
    assert_eq!(
        refresh(&app, client, cy["refresh_token"].as_str().unwrap()).await.0,
        400
    );
    assert_eq!(logouts(&received, 3).await.len(), 3);
    let (ended, _) = page_when(&app, "types=session.revoked", |e| {
        e.iter().any(|e| e["data"]["object"]["kind"] == "connection")
    })
    .await;
    let by_deletion = ended
        .iter()
        .find(|e| e["data"]["object"]["kind"] == "connection")
        .unwrap();
    assert_eq!(by_deletion["data"]["state"]["sessions_ended"], 1, "cy's: {by_deletion}");
}

/// The `user.deprovisioned` event of `user_id`, once it shows in the feed, after a
/// `session.revoked` of theirs.
async fn receipt_of(app: &TestApp, user_id: &str) -> Value {
    let mine = |e: &Value| e["data"]["user_id"] == user_id;
    let (events, _) = page_when(app, "types=user.deprovisioned,session.revoked", |es| {
        es.iter().any(|e| mine(e) && e["type"] == "user.deprovisioned")
    })
    .await;
    let mine: Vec<&Value> = events.iter().filter(|e| mine(e)).collect();
    let kinds: Vec<&str> = mine.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["session.revoked", "user.deprovisioned"]);
    mine[1].clone()
}

/// The logout tokens received, once there are `n` (waiting up to 10 s: the sender
/// polls every 2 s).
async fn logouts(received: &Arc<Mutex<Vec<String>>>, n: usize) -> Vec<String> {
    for _ in 0..100 {
        if received.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), n, "{got:?}");
    got
}

async fn rp_initiated_logout(backend: Backend) {
    let app = spawn_app(backend).await;
    let idp = Idp::rsa(IDP_ENTITY);
    let conn = setup(&app, &idp, json!({})).await;
    let (client_id, secret) = register(&app, json!({})).await;
    let secret = secret.unwrap();
    let (q, cookie) = code_for(&app, &idp, &conn, &client_id, &[("login_hint", "ann@acme.test")], None).await;
    let (_, tokens) = exchange(&app, (&client_id, &secret), q["code"].as_str().unwrap(), None).await;
    let id_token = tokens["id_token"].as_str().unwrap();

    // Not registered: a page, no redirect, still signed in.
    let (status, location, _) = browse(
        &app,
        &format!("/oauth2/logout?id_token_hint={id_token}&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F"),
        Some(&cookie),
    )
    .await;
    assert_eq!((status, location.as_str()), (400, ""));
    // A forged hint: refused.
    let (status, _, _) = browse(
        &app,
        "/oauth2/logout?id_token_hint=eyJhbGciOiJub25lIn0.e30.",
        Some(&cookie),
    )
    .await;
    assert_eq!(status, 400);
    // Without a hint: the person is asked; nothing ends yet.
    let (status, _, page) = browse(&app, "/oauth2/logout", Some(&cookie)).await;
    assert_eq!(status, 200);
    assert!(page.contains("Sign out of Roster?"), "{page}");
    assert_eq!(userinfo(&app, tokens["access_token"].as_str().unwrap()).await.0, 200);
    // A link cannot confirm: `confirm=yes` counts only in a POST from Roster's page.
    let (status, _, page) = browse(&app, "/oauth2/logout?confirm=yes", Some(&cookie)).await;
    assert_eq!(status, 200);
    assert!(page.contains("Sign out of Roster?"), "{page}");
    // A hint of another session (here, another person's) does not skip the question.
    let (_, other_cookie) = code_for(&app, &idp, &conn, &client_id, &[("login_hint", "bo@acme.test")], None).await;
    let (status, _, page) = browse(
        &app,
        &format!("/oauth2/logout?id_token_hint={id_token}"),
        Some(&other_cookie),
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("Sign out of Roster?"), "{page}");
    let me = no_redirects()
        .get(app.url("/api/v1/me"))
        .header("cookie", &other_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200, "still signed in");
    assert_eq!(userinfo(&app, tokens["access_token"].as_str().unwrap()).await.0, 200);

    let resp = no_redirects()
        .get(app.url(&format!("/oauth2/logout?id_token_hint={id_token}&post_logout_redirect_uri=https%3A%2F%2Fdash.acme.example%2Fbye&state=bye-1")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()[LOCATION], "https://dash.acme.example/bye?state=bye-1");
    assert!(resp.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    let me = no_redirects()
        .get(app.url("/api/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
    assert_eq!(
        userinfo(&app, tokens["access_token"].as_str().unwrap()).await.0,
        401,
        "the session's grants end"
    );
    let (status, _) = refresh(&app, (&client_id, &secret), tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400);
}

/// `prompt=login` for one app: the IdP is asked to authenticate the person again
/// (ForceAuthn), and the new session carries what the other apps were granted.
async fn a_fresh_sign_in_for_one_app_keeps_the_others(backend: Backend) {
    let app = spawn_app(backend).await;
    let idp = Idp::rsa(IDP_ENTITY);
    let conn = setup(&app, &idp, json!({})).await;
    let (first_id, first_secret) = register(&app, json!({})).await;
    let (second_id, _) = register(&app, json!({"name": "Admin"})).await;
    let first = (first_id.as_str(), first_secret.as_deref().unwrap());
    let (q, cookie) = code_for(&app, &idp, &conn, &first_id, &[("login_hint", "ann@acme.test")], None).await;
    let (_, tokens) = exchange(&app, first, q["code"].as_str().unwrap(), None).await;

    let (status, location, _) = browse(
        &app,
        &authorize_path(&second_id, &[("prompt", "login"), ("login_hint", "ann@acme.test")]),
        Some(&cookie),
    )
    .await;
    assert_eq!(status, 303);
    assert!(location.contains("force=1"), "{location}");
    let return_to = query_of(&app.url(&location))["return_to"].as_str().unwrap().to_string();
    let encoded: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
    let resp = no_redirects()
        .get(app.url(&format!("/sso/saml/{conn}/login?return_to={encoded}&force=1")))
        .send()
        .await
        .unwrap();
    let to_idp = resp.headers()[LOCATION].to_str().unwrap().to_string();
    let saml_request = query_of(&to_idp)["SAMLRequest"].as_str().unwrap().to_string();
    let deflated = base64::engine::general_purpose::STANDARD.decode(saml_request).unwrap();
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut flate2::read::DeflateDecoder::new(&deflated[..]), &mut xml).unwrap();
    assert!(xml.contains("ForceAuthn=\"true\""), "{xml}");

    // The new sign-in, in the same browser (it brings its session cookie along).
    let (_, xml, _) = login(&app, &conn, &encoded).await;
    let s = spec(&app, &conn, Shape::Okta, "ann@acme.test").in_response_to(&request_id(&xml));
    let bindings = app.browser.lock().unwrap().join("; ");
    let acs = crate::saml::post_acs_from(&app, &conn, &idp.response(&s), None, &format!("{bindings}; {cookie}")).await;
    assert_eq!(acs.status, 303, "{}", acs.body);
    let new_cookie = acs.cookie().unwrap();
    assert_ne!(new_cookie, cookie);
    let (status, location, _) = browse(&app, acs.headers[LOCATION].to_str().unwrap(), Some(&new_cookie)).await;
    assert_eq!(status, 303);
    assert!(query_of(&location).contains_key("code"), "{location}");
    // The first app's grant lives on, under the new session.
    let (status, refreshed) = refresh(&app, first, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{refreshed}");
    let new_sid = verify_signature(refreshed["id_token"].as_str().unwrap(), &jwks(&app).await).unwrap()["sid"].clone();
    let old_sid = verify_signature(tokens["id_token"].as_str().unwrap(), &jwks(&app).await).unwrap()["sid"].clone();
    assert_ne!(new_sid, old_sid);
}
