//! A real third-party relying party against Roster's OpenID Provider: `openid-client`
//! (run by `tests/fixtures/openid_client_rp.mjs`) discovers Roster, sends the person to
//! authorize with PKCE, state and nonce, exchanges the code and checks the ID token as
//! the library does, reads userinfo, introspects, refreshes, revokes and builds the
//! end-session URL. The person signs in upstream through SAML (a response signed by
//! xmlsec1) and through OIDC (the `oidc-provider` package).

use crate::helpers::{spawn_app, Backend, TestApp};
use crate::saml::{no_redirects, setup as saml_setup, IDP_ENTITY};
use reqwest::header::LOCATION;
use roster_testidp::Idp;
use serde_json::{json, Value};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

crate::on_both_backends!(openid_client_signs_in_through_saml, openid_client_signs_in_through_oidc,);

const REDIRECT_URI: &str = "http://127.0.0.1:1/callback";

/// The relying party, running until dropped.
struct Rp {
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    _child: tokio::process::Child,
}

impl Rp {
    async fn start(app: &TestApp, client_id: &str, secret: &str, login_hint: &str) -> (Self, String) {
        let node =
            std::env::var("ROSTER_NODE").expect("ROSTER_NODE: run `. scripts/deps.sh` first (scripts/test.sh does)");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/openid_client_rp.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .env("ROSTER_NODE", node)
            .env("ISSUER", &app.base)
            .env("CLIENT_ID", client_id)
            .env("CLIENT_SECRET", secret)
            .env("REDIRECT_URI", REDIRECT_URI)
            .env("LOGIN_HINT", login_hint)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start node");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut rp = Self {
            stdin,
            lines,
            _child: child,
        };
        let first = rp.read().await;
        let url = first["authorize"]
            .as_str()
            .unwrap_or_else(|| panic!("{first}"))
            .to_string();
        (rp, url)
    }

    async fn read(&mut self) -> Value {
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), self.lines.next_line())
            .await
            .expect("the relying party answers")
            .unwrap()
            .expect("the relying party exited");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"))
    }

    /// Hands the URL the browser came back to, and returns what the app saw.
    async fn finish(&mut self, callback: &str) -> Value {
        self.stdin.write_all(format!("{callback}\n").as_bytes()).await.unwrap();
        let out = self.read().await;
        assert_eq!(out["ok"], true, "{out}");
        out
    }
}

async fn register(app: &TestApp) -> (String, String) {
    let created = app
        .post_ok(
            "/api/v1/apps",
            json!({"company": "acme", "name": "Node app", "redirect_uris": [REDIRECT_URI],
                   "post_logout_redirect_uris": [REDIRECT_URI]}),
            201,
        )
        .await;
    (
        created["client_id"].as_str().unwrap().to_string(),
        created["client_secret"].as_str().unwrap().to_string(),
    )
}

fn set_real_time(app: &TestApp) {
    // The library checks the tokens' times against the real clock.
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    app.clock.advance_ms(real - app.clock.now());
}

/// The browser that signed in: one with its own cookie store, or one cookie by hand.
enum Browser<'a> {
    Jar(&'a reqwest::Client),
    Cookie(&'a str),
}

/// What the app saw, checked: the claims, userinfo, introspection, refresh, rotation,
/// revocation and the end-session URL (followed by the browser that signed in).
async fn check(
    app: &TestApp,
    client_id: &str,
    out: &Value,
    email: &str,
    groups: Value,
    amr: &str,
    browser: Browser<'_>,
) {
    let claims = &out["claims"];
    assert_eq!(claims["iss"], app.base);
    assert_eq!(claims["aud"], client_id);
    assert_eq!(claims["email"], email);
    assert_eq!(claims["groups"], groups);
    assert_eq!(claims["amr"], json!([amr]));
    let sub = claims["sub"].as_str().unwrap();
    assert!(!sub.contains('@'), "sub is the user id: {sub}");
    assert_eq!(out["userinfo"]["sub"], sub);
    assert_eq!(out["userinfo"]["organizations"], claims["organizations"]);
    assert_eq!(out["introspected"]["active"], true);
    assert_eq!(out["introspected"]["sub"], sub);
    assert_eq!(out["refreshed_sub"], sub);
    assert_eq!(out["refreshed_auth_time"], claims["auth_time"]);
    assert_eq!(out["after_revoke"], 401, "{out}");
    assert_eq!(out["reuse"], "invalid_grant", "{out}");

    // RP-initiated logout from the URL the library built.
    let end = out["end_session"].as_str().unwrap();
    let resp = match browser {
        Browser::Jar(b) => b.get(end).send().await.unwrap(),
        Browser::Cookie(c) => no_redirects().get(end).header("cookie", c).send().await.unwrap(),
    };
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()[LOCATION], format!("{REDIRECT_URI}?state=bye"));
}

async fn openid_client_signs_in_through_saml(backend: Backend) {
    let app = spawn_app(backend).await;
    set_real_time(&app);
    let idp = Idp::rsa(IDP_ENTITY);
    let conn = saml_setup(&app, &idp, json!({})).await;
    let (client_id, secret) = register(&app).await;
    let (mut rp, authorize) = Rp::start(&app, &client_id, &secret, "ann@acme.test").await;

    // The browser: to Roster, routed to the IdP by the login hint, back from the ACS,
    // and to the app.
    let resp = no_redirects().get(&authorize).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let to_login = resp.headers()[LOCATION].to_str().unwrap().to_string();
    let (back, cookie) =
        crate::oauth2::sign_in_with_groups(&app, &idp, &conn, &to_login, "ann@acme.test", &["acme:eng"]).await;
    let resp = no_redirects()
        .get(app.url(&back))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let callback = resp.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(callback.starts_with(REDIRECT_URI), "{callback}");

    let out = rp.finish(&callback).await;
    check(
        &app,
        &client_id,
        &out,
        "ann@acme.test",
        json!(["acme:eng"]),
        "saml",
        Browser::Cookie(&cookie),
    )
    .await;
}

async fn openid_client_signs_in_through_oidc(backend: Backend) {
    let app = spawn_app(backend).await;
    let accounts = json!({"jo@acme.example": crate::oidc::account("jo@acme.example", &["acme:ops"])});
    let (conn, _provider) = crate::oidc::setup(&app, accounts).await;
    let (client_id, secret) = register(&app).await;
    let (mut rp, authorize) = Rp::start(&app, &client_id, &secret, "jo@acme.example").await;

    // The browser keeps its cookies across Roster and the provider.
    let b = crate::oidc::browser();
    let roster_callback = crate::oidc::to_callback_from(&app, &b, &authorize, &conn, "jo@acme.example").await;
    let resp = b.get(&roster_callback).send().await.unwrap();
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap_or_default());
    let back = resp.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(back.starts_with("/oauth2/authorize/resume/"), "{back}");
    let resp = b.get(app.url(&back)).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let callback = resp.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(callback.starts_with(REDIRECT_URI), "{callback}");

    let out = rp.finish(&callback).await;
    check(
        &app,
        &client_id,
        &out,
        "jo@acme.example",
        json!(["acme:ops"]),
        "oidc",
        Browser::Jar(&b),
    )
    .await;
}
