//! Roster's OpenID Provider, driven as an app and a browser would: the person signs in
//! through their company's SAML IdP (a response signed like Okta's), the app gets a code,
//! exchanges it, checks the ID token against the published keys, reads userinfo,
//! refreshes, revokes. Sessions ending (leavers, sign-out) are in `oauth2_sessions`.

use crate::helpers::{spawn_app, Backend, TestApp};
use crate::saml::{login, no_redirects, post_acs, request_id, setup, spec, IDP_ENTITY};
use base64::Engine;
use reqwest::header::LOCATION;
use roster_oidc::{verify_id_token, verify_signature, Expectations, Jwks};
use roster_testidp::{Idp, Shape};
use serde_json::{json, Map, Value};

crate::on_both_backends!(
    a_person_signs_in_to_an_app_through_their_idp,
    codes_and_refresh_tokens_are_one_use,
    routing_home_realm_discovery_and_prompts,
);

pub(crate) const CB: &str = "https://dash.acme.example/callback";
pub(crate) const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// An app of company acme: (client_id, client_secret).
pub(crate) async fn register(app: &TestApp, extra: Value) -> (String, Option<String>) {
    let mut body = json!({"company": "acme", "name": "Dashboard", "redirect_uris": [CB],
        "post_logout_redirect_uris": ["https://dash.acme.example/bye"]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let created = app.post_ok("/api/v1/apps", body, 201).await;
    (
        created["client_id"].as_str().unwrap().to_string(),
        created["client_secret"].as_str().map(str::to_string),
    )
}

/// A GET without following redirects, from a browser holding `cookie`: status,
/// Location, body.
pub(crate) async fn browse(app: &TestApp, path_or_url: &str, cookie: Option<&str>) -> (u16, String, String) {
    let url = if path_or_url.starts_with("http") {
        path_or_url.to_string()
    } else {
        app.url(path_or_url)
    };
    let mut req = no_redirects().get(url);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, location, resp.text().await.unwrap_or_default())
}

pub(crate) fn authorize_path(client_id: &str, extra: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("client_id", client_id)
        .append_pair("redirect_uri", CB)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email profile");
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    format!("/oauth2/authorize?{}", q.finish())
}

pub(crate) fn query_of(location: &str) -> Map<String, Value> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), json!(v.into_owned())))
        .collect()
}

/// Signs `email` in through the SAML connection, from a login page at `login_location`
/// (`/sso/saml/{conn}/login?return_to=…`): returns where the ACS sends the browser and
/// the session cookie.
pub(crate) async fn sign_in_at(
    app: &TestApp,
    idp: &Idp,
    conn: &str,
    login_location: &str,
    email: &str,
) -> (String, String) {
    sign_in_with_groups(app, idp, conn, login_location, email, &["acme:eng", "acme:ops"]).await
}

/// [`sign_in_at`], the IdP sending `groups`.
pub(crate) async fn sign_in_with_groups(
    app: &TestApp,
    idp: &Idp,
    conn: &str,
    login_location: &str,
    email: &str,
    groups: &[&str],
) -> (String, String) {
    let return_to = query_of(&app.url(login_location))["return_to"]
        .as_str()
        .unwrap()
        .to_string();
    let encoded: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
    let (_, xml, _) = login(app, conn, &encoded).await;
    let s = spec(app, conn, Shape::Okta, email)
        .attr("groups", groups)
        .in_response_to(&request_id(&xml));
    let answer = post_acs(app, conn, &idp.response(&s), None).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let to = answer.headers[LOCATION].to_str().unwrap().to_string();
    (to, answer.cookie().unwrap())
}

/// The whole browser leg: authorize with `extra`, sign in through the IdP when sent
/// there, and return the app's callback query and the session cookie.
pub(crate) async fn code_for(
    app: &TestApp,
    idp: &Idp,
    conn: &str,
    client_id: &str,
    extra: &[(&str, &str)],
    cookie: Option<&str>,
) -> (Map<String, Value>, String) {
    let (status, location, body) = browse(app, &authorize_path(client_id, extra), cookie).await;
    assert_eq!(status, 303, "{body}");
    if location.starts_with(CB) {
        return (query_of(&location), cookie.unwrap_or_default().to_string());
    }
    assert!(
        location.starts_with(&format!("/sso/saml/{conn}/login?return_to=")),
        "{location}"
    );
    let email = extra
        .iter()
        .find(|(k, _)| *k == "login_hint")
        .map_or("ann@acme.test", |(_, v)| *v);
    let (back, cookie) = sign_in_at(app, idp, conn, &location, email).await;
    assert!(back.starts_with("/oauth2/authorize/resume/"), "{back}");
    let (status, location, body) = browse(app, &back, Some(&cookie)).await;
    assert_eq!(status, 303, "{body}");
    assert!(location.starts_with(CB), "{location}");
    (query_of(&location), cookie)
}

/// POSTs a form to `path`, authenticated with HTTP Basic when `basic` is given.
pub(crate) async fn form(
    app: &TestApp,
    path: &str,
    basic: Option<(&str, &str)>,
    fields: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = app.client.post(app.url(path)).form(fields);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), headers)
}

pub(crate) async fn exchange(app: &TestApp, client: (&str, &str), code: &str, verifier: Option<&str>) -> (u16, Value) {
    let mut fields = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CB),
    ];
    if let Some(v) = verifier {
        fields.push(("code_verifier", v));
    }
    let (status, body, headers) = form(app, "/oauth2/token", Some(client), &fields).await;
    assert_eq!(headers["cache-control"], "no-store");
    (status, body)
}

pub(crate) async fn refresh(app: &TestApp, client: (&str, &str), token: &str) -> (u16, Value) {
    let (status, body, _) = form(
        app,
        "/oauth2/token",
        Some(client),
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await;
    (status, body)
}

pub(crate) async fn userinfo(app: &TestApp, access_token: &str) -> (u16, Value, reqwest::header::HeaderMap) {
    let resp = app
        .client
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, resp.json().await.unwrap_or(Value::Null), headers)
}

pub(crate) async fn jwks(app: &TestApp) -> Jwks {
    let body = app
        .client
        .get(app.url("/oauth2/jwks"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    Jwks::parse(&body).unwrap()
}

pub(crate) async fn id_claims(app: &TestApp, client_id: &str, token: &str, nonce: &str) -> Map<String, Value> {
    let exp = Expectations {
        issuer: &app.base,
        client_id,
        nonce,
        now_secs: app.clock.now() / 1000,
        skew_secs: 0,
    };
    verify_id_token(token, &jwks(app).await, &exp).unwrap()
}

fn header_alg(token: &str) -> String {
    let head = token.split('.').next().unwrap();
    let head: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(head).unwrap()).unwrap();
    head["alg"].as_str().unwrap().to_string()
}

async fn a_person_signs_in_to_an_app_through_their_idp(backend: Backend) {
    let app = spawn_app(backend).await;
    let idp = Idp::rsa(IDP_ENTITY);
    let conn = setup(&app, &idp, json!({})).await;
    let (client_id, secret) = register(&app, json!({})).await;
    let secret = secret.unwrap();

    // Discovery names every endpoint under the issuer, and browsers may read it.
    let resp = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["issuer"], app.base);
    assert_eq!(doc["token_endpoint"], app.url("/oauth2/token"));
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));

    let (q, cookie) = code_for(
        &app,
        &idp,
        &conn,
        &client_id,
        &[
            ("state", "st-1"),
            ("nonce", "n-1"),
            ("login_hint", "ann@acme.test"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
        None,
    )
    .await;
    assert_eq!(q["state"], "st-1");
    assert_eq!(q["iss"], app.base, "RFC 9207");
    let code = q["code"].as_str().unwrap();
    let (status, tokens) = exchange(&app, (&client_id, &secret), code, Some(VERIFIER)).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["expires_in"].as_i64().unwrap() <= 900);
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(header_alg(id_token), "RS256");
    let claims = id_claims(&app, &client_id, id_token, "n-1").await;

    // `sub` is Roster's user id, never the email; the organizations and teams come from
    // the IdP's groups (G1).
    let me = no_redirects()
        .get(app.url("/api/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let me: Value = me.json().await.unwrap();
    let user_id = me["user"]["id"].as_str().unwrap();
    assert_eq!(claims["sub"], user_id);
    assert_eq!(claims["email"], "ann@acme.test");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["organizations"][0]["name"], "acme");
    assert_eq!(claims["organizations"][0]["role"], "member");
    assert_eq!(claims["groups"], json!(["acme:eng", "acme:ops"]));
    assert_eq!(claims["amr"], json!(["saml"]));
    assert_eq!(claims["idp"], conn.as_str());
    assert!(claims["sid"].as_str().is_some_and(|s| !s.is_empty()));
    let auth_time = claims["auth_time"].as_i64().unwrap();
    assert_eq!(auth_time, app.clock.now() / 1000);

    let (status, info, headers) = userinfo(&app, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert_eq!(info["sub"], user_id);
    assert_eq!(info["groups"], claims["groups"]);

    // With the session live, the next authorization answers at once, with no IdP.
    app.clock.advance_ms(5_000);
    let (q, _) = code_for(&app, &idp, &conn, &client_id, &[("nonce", "n-2")], Some(&cookie)).await;
    let (status, again) = exchange(&app, (&client_id, &secret), q["code"].as_str().unwrap(), None).await;
    assert_eq!(status, 200, "{again}");
    let claims2 = id_claims(&app, &client_id, again["id_token"].as_str().unwrap(), "n-2").await;
    assert_eq!(claims2["auth_time"].as_i64(), Some(auth_time), "the original sign-in");
    assert_eq!(claims2["sid"], claims["sid"]);

    // An app asking for EdDSA gets EdDSA, under a key of the published set.
    let (eddsa_id, eddsa_secret) = {
        let (id, s) = register(
            &app,
            json!({"name": "Reports", "id_token_signed_response_alg": "EdDSA"}),
        )
        .await;
        (id, s.unwrap())
    };
    let (q, _) = code_for(&app, &idp, &conn, &eddsa_id, &[("nonce", "n-3")], Some(&cookie)).await;
    let (_, t) = exchange(&app, (&eddsa_id, &eddsa_secret), q["code"].as_str().unwrap(), None).await;
    assert_eq!(header_alg(t["id_token"].as_str().unwrap()), "EdDSA");
    id_claims(&app, &eddsa_id, t["id_token"].as_str().unwrap(), "n-3").await;

    // Introspection: live for the app that holds it, nothing for another.
    let access = tokens["access_token"].as_str().unwrap();
    let (_, live, _) = form(
        &app,
        "/oauth2/introspect",
        Some((&client_id, &secret)),
        &[("token", access)],
    )
    .await;
    assert_eq!(live["active"], true, "{live}");
    assert_eq!(live["sub"], user_id);
    assert_eq!(live["client_id"], client_id.as_str());
    let (_, other, _) = form(
        &app,
        "/oauth2/introspect",
        Some((&eddsa_id, &eddsa_secret)),
        &[("token", access)],
    )
    .await;
    assert_eq!(other, json!({"active": false}));

    // client_credentials: the app itself, with the directory scopes only.
    let (status, cc, _) = form(
        &app,
        "/oauth2/token",
        Some((&client_id, &secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 200, "{cc}");
    assert_eq!(cc["scope"], "directory:read events:read");
    assert!(cc.get("id_token").is_none() && cc.get("refresh_token").is_none());
    let (status, _, _) = userinfo(&app, cc["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 401, "not a person's token");
    let (status, bad, _) = form(
        &app,
        "/oauth2/token",
        Some((&client_id, &secret)),
        &[("grant_type", "client_credentials"), ("scope", "admin")],
    )
    .await;
    assert_eq!((status, bad["error"].as_str()), (400, Some("invalid_scope")));

    let signed_in: Vec<Value> = app
        .audit(&format!("user={user_id}"))
        .await
        .into_iter()
        .filter(|e| e["action"] == "app.sign_in")
        .collect();
    assert_eq!(signed_in.len(), 3, "one per code: {signed_in:?}");
}

async fn codes_and_refresh_tokens_are_one_use(backend: Backend) {
    let app = spawn_app(backend).await;
    let idp = Idp::rsa(IDP_ENTITY);
    let conn = setup(&app, &idp, json!({})).await;
    let (client_id, secret) = register(&app, json!({})).await;
    let secret = secret.unwrap();
    let client = (client_id.as_str(), secret.as_str());
    let (q, cookie) = code_for(&app, &idp, &conn, &client_id, &[("login_hint", "ann@acme.test")], None).await;
    let code = q["code"].as_str().unwrap().to_string();
    let (status, first) = exchange(&app, client, &code, None).await;
    assert_eq!(status, 200, "{first}");

    // RFC 6749 §4.1.2: a code used twice revokes what it issued.
    let (status, again) = exchange(&app, client, &code, None).await;
    assert_eq!((status, again["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(userinfo(&app, first["access_token"].as_str().unwrap()).await.0, 401);
    let (status, r) = refresh(&app, client, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!((status, r["error"].as_str()), (400, Some("invalid_grant")));

    // Rotation: each refresh token once; the rotated one used again revokes the grant.
    let (q, _) = code_for(&app, &idp, &conn, &client_id, &[], Some(&cookie)).await;
    let (_, tokens) = exchange(&app, client, q["code"].as_str().unwrap(), None).await;
    let r1 = tokens["refresh_token"].as_str().unwrap().to_string();
    let (status, second) = refresh(&app, client, &r1).await;
    assert_eq!(status, 200, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    // The refreshed ID token: signed by Roster, for this app, without a nonce.
    let refreshed = verify_signature(second["id_token"].as_str().unwrap(), &jwks(&app).await).unwrap();
    assert_eq!(
        (refreshed["aud"].as_str(), refreshed.get("nonce")),
        (Some(client_id.as_str()), None)
    );
    let (status, reused) = refresh(&app, client, &r1).await;
    assert_eq!((status, reused["error"].as_str()), (400, Some("invalid_grant")));
    let (status, _) = refresh(&app, client, &r2).await;
    assert_eq!(status, 400, "the whole grant is revoked");
    assert_eq!(userinfo(&app, second["access_token"].as_str().unwrap()).await.0, 401);

    // Revocation (RFC 7009): 200 whatever the token; a refresh token takes its grant.
    let (q, _) = code_for(&app, &idp, &conn, &client_id, &[], Some(&cookie)).await;
    let (_, tokens) = exchange(&app, client, q["code"].as_str().unwrap(), None).await;
    let (status, _, _) = form(&app, "/oauth2/revoke", Some(client), &[("token", "not-a-token")]).await;
    assert_eq!(status, 200);
    let (status, _, _) = form(
        &app,
        "/oauth2/revoke",
        Some(client),
        &[
            ("token", tokens["refresh_token"].as_str().unwrap()),
            ("token_type_hint", "refresh_token"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(userinfo(&app, tokens["access_token"].as_str().unwrap()).await.0, 401);

    // An expired code (60 s) is refused.
    let (q, _) = code_for(&app, &idp, &conn, &client_id, &[], Some(&cookie)).await;
    app.clock.advance_ms(61_000);
    let (status, late) = exchange(&app, client, q["code"].as_str().unwrap(), None).await;
    assert_eq!((status, late["error"].as_str()), (400, Some("invalid_grant")));
}

async fn routing_home_realm_discovery_and_prompts(backend: Backend) {
    let app = spawn_app(backend).await;
    let idp = Idp::rsa(IDP_ENTITY);
    let conn = setup(&app, &idp, json!({})).await;
    let (client_id, secret) = register(&app, json!({})).await;
    let secret = secret.unwrap();

    // Without a hint Roster asks for the work email, then routes by its domain.
    let (status, _, page) = browse(&app, &authorize_path(&client_id, &[]), None).await;
    assert_eq!(status, 200);
    let action = page
        .split("action=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    assert!(action.starts_with("/oauth2/authorize/resume/"), "{page}");
    let (status, _, page) = browse(&app, &format!("{action}?email=someone%40elsewhere.example"), None).await;
    assert_eq!(status, 404);
    assert!(page.contains("No sign-in"), "{page}");
    let (status, location, _) = browse(&app, &format!("{action}?email=ann%40acme.test"), None).await;
    assert_eq!(status, 303);
    assert!(location.starts_with(&format!("/sso/saml/{conn}/login")), "{location}");
    let (back, cookie) = sign_in_at(&app, &idp, &conn, &location, "ann@acme.test").await;
    assert_eq!(back, action);
    let (status, location, _) = browse(&app, &back, Some(&cookie)).await;
    assert_eq!(status, 303);
    assert!(query_of(&location).contains_key("code"));
    // Answered: the pending request is gone.
    let (status, _, _) = browse(&app, &back, Some(&cookie)).await;
    assert_eq!(status, 404);

    // `organization=` routes by organization.
    let (_, location, _) = browse(&app, &authorize_path(&client_id, &[("organization", "acme")]), None).await;
    assert!(location.starts_with(&format!("/sso/saml/{conn}/login")), "{location}");

    // prompt=login signs in again despite the live session; max_age=0 too.
    for extra in [("prompt", "login"), ("max_age", "0")] {
        app.clock.advance_ms(2_000);
        let (status, location, _) = browse(
            &app,
            &authorize_path(&client_id, &[extra, ("login_hint", "ann@acme.test")]),
            Some(&cookie),
        )
        .await;
        assert_eq!(status, 303);
        assert!(location.starts_with("/sso/saml/"), "{extra:?}: {location}");
    }
    // prompt=none with the session: a code at once.
    let (_, location, _) = browse(&app, &authorize_path(&client_id, &[("prompt", "none")]), Some(&cookie)).await;
    assert!(query_of(&location).contains_key("code"), "{location}");

    // form_post: an auto-submitted form, its one script allowed by hash only.
    let resp = no_redirects()
        .get(app.url(&authorize_path(
            &client_id,
            &[("response_mode", "form_post"), ("state", "s<\"&")],
        )))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(
        csp.contains("script-src 'sha256-") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    let html = resp.text().await.unwrap();
    assert!(html.contains(&format!("action=\"{CB}\"")), "{html}");
    assert!(
        html.contains("name=\"code\"") && html.contains("s&#60;&#34;&#38;"),
        "{html}"
    );

    // An app restricted to another organization: the person is told access_denied.
    app.post_ok(
        "/api/v1/organizations",
        json!({"name": "acme-eu", "company": "acme"}),
        201,
    )
    .await;
    let (eu_id, _) = register(&app, json!({"name": "EU only", "organizations": ["acme-eu"]})).await;
    let (_, location, _) = browse(&app, &authorize_path(&eu_id, &[("state", "x")]), Some(&cookie)).await;
    let q = query_of(&location);
    assert_eq!(
        (q["error"].as_str(), q["state"].as_str()),
        (Some("access_denied"), Some("x"))
    );
    drop(secret);
}
