//! Requests to the OpenID Provider that could be abused, refused: redirect URIs not
//! registered or only a prefix of one (a page, never a redirect), other mistakes told
//! to the app, PKCE, codes of another app, wrong secrets, repeated parameters, forged
//! tokens.

use crate::helpers::{spawn_app, Backend};
use crate::oauth2::{
    authorize_path, browse, code_for, exchange, form, query_of, register, userinfo, CB, CHALLENGE, VERIFIER,
};
use crate::saml::{setup, IDP_ENTITY};
use roster_testidp::Idp;
use serde_json::{json, Value};

crate::on_both_backends!(requests_that_could_be_abused_are_refused);

async fn requests_that_could_be_abused_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let idp = Idp::rsa(IDP_ENTITY);
    let conn = setup(&app, &idp, json!({})).await;
    let (client_id, secret) = register(&app, json!({})).await;
    let secret = secret.unwrap();
    let (public_id, _) = register(&app, json!({"name": "Mobile", "client_type": "public"})).await;

    // A redirect URI not registered, or only a prefix of one: a page, never a redirect.
    for bad in [
        "https://dash.acme.example/callback/../evil",
        "https://dash.acme.example/callbackx",
        "https://evil.example/callback",
        "https://dash.acme.example/",
    ] {
        let path = authorize_path(&client_id, &[]).replace(
            &url::form_urlencoded::byte_serialize(CB.as_bytes()).collect::<String>(),
            &url::form_urlencoded::byte_serialize(bad.as_bytes()).collect::<String>(),
        );
        let (status, location, body) = browse(&app, &path, None).await;
        assert_eq!((status, location.as_str()), (400, ""), "{bad}");
        assert!(body.contains("has not registered"), "{body}");
    }
    let (status, location, _) = browse(&app, &authorize_path("app_unknown", &[]), None).await;
    assert_eq!((status, location.as_str()), (400, ""));

    // Other mistakes go back to the app, with its state.
    let (status, location, _) = browse(
        &app,
        &authorize_path(&client_id, &[("response_type", "token"), ("state", "s")]).replace("response_type=code&", ""),
        None,
    )
    .await;
    assert_eq!(status, 303);
    let q = query_of(&location);
    assert_eq!(
        (q["error"].as_str(), q["state"].as_str()),
        (Some("unsupported_response_type"), Some("s"))
    );
    let (_, location, _) = browse(
        &app,
        &authorize_path(&client_id, &[("prompt", "none"), ("state", "s")]),
        None,
    )
    .await;
    assert_eq!(query_of(&location)["error"], "login_required");
    // A public app must send PKCE.
    let (_, location, _) = browse(&app, &authorize_path(&public_id, &[]), None).await;
    assert_eq!(query_of(&location)["error"], "invalid_request");

    // PKCE: a public app's code needs its verifier; a wrong one fails and burns the code.
    let (q, cookie) = code_for(
        &app,
        &idp,
        &conn,
        &public_id,
        &[
            ("login_hint", "ann@acme.test"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
        None,
    )
    .await;
    let code = q["code"].as_str().unwrap().to_string();
    let public_form = |code: &str, verifier: Option<&str>| {
        let mut f = vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.to_string()),
            ("redirect_uri", CB.to_string()),
            ("client_id", public_id.clone()),
        ];
        if let Some(v) = verifier {
            f.push(("code_verifier", v.to_string()));
        }
        f
    };
    let post = |fields: Vec<(&'static str, String)>| {
        let app = &app;
        async move {
            let resp = app
                .client
                .post(app.url("/oauth2/token"))
                .form(&fields)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = post(public_form(&code, None)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let (q, _) = code_for(
        &app,
        &idp,
        &conn,
        &public_id,
        &[("code_challenge", CHALLENGE), ("code_challenge_method", "S256")],
        Some(&cookie),
    )
    .await;
    let (status, body) = post(public_form(
        q["code"].as_str().unwrap(),
        Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX"),
    ))
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let (q, _) = code_for(
        &app,
        &idp,
        &conn,
        &public_id,
        &[("code_challenge", CHALLENGE), ("code_challenge_method", "S256")],
        Some(&cookie),
    )
    .await;
    let (status, body) = post(public_form(q["code"].as_str().unwrap(), Some(VERIFIER))).await;
    assert_eq!(status, 200, "{body}");

    // A code is the app's it was issued to: another app cannot redeem it, and trying
    // does not burn it.
    let (q, _) = code_for(&app, &idp, &conn, &client_id, &[], Some(&cookie)).await;
    let code = q["code"].as_str().unwrap();
    let (other_id, other_secret) = register(&app, json!({"name": "Other"})).await;
    let (status, body) = exchange(&app, (&other_id, &other_secret.unwrap()), code, None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    // The wrong secret: 401 invalid_client with a Basic challenge.
    let (status, body, headers) = form(
        &app,
        "/oauth2/token",
        Some((&client_id, "wrong")),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CB),
        ],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    // The secret in the form when the app registered Basic: refused too.
    let (status, _, _) = form(
        &app,
        "/oauth2/token",
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CB),
            ("client_id", &client_id),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!(status, 401);
    // A different redirect_uri than the code's.
    let (status, body, _) = form(
        &app,
        "/oauth2/token",
        Some((&client_id, &secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", "https://dash.acme.example/bye"),
        ],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    // A parameter twice, a grant not offered, no form at all.
    let resp = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth(&client_id, Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password&grant_type=password")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_request");
    let (status, body, _) = form(
        &app,
        "/oauth2/token",
        Some((&client_id, &secret)),
        &[("grant_type", "password"), ("username", "a"), ("password", "b")],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unsupported_grant_type")));
    let resp = app
        .client
        .post(app.url("/oauth2/token"))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_request");
    // A forged access token.
    let (status, body, headers) = userinfo(&app, "forged").await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_token")));
    assert!(headers["www-authenticate"].to_str().unwrap().contains("invalid_token"));
}
