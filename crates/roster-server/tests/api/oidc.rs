//! OIDC sign-in end to end through a real OpenID Provider (the `oidc-provider` package,
//! run by `tests/fixtures/oidc_provider.mjs`): its login and consent pages followed as a
//! browser would, the callback, the session and JIT provisioning; and what the callback
//! refuses, each with no session and no directory change.

use crate::helpers::{spawn_app, Backend, TestApp};
use serde_json::{json, Value};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

crate::on_both_backends!(
    j_g_signs_in_through_a_real_provider_with_jit_and_group_mapping,
    a_callback_from_another_browser_or_used_twice_is_refused,
    a4_j10_the_providers_refusals_and_unverified_emails_end_the_sign_in,
    a_key_rotation_at_the_provider_needs_no_restart,
    forged_id_tokens_are_refused_at_the_callback,
    a2_an_entra_group_overage_is_read_from_graph_when_asked,
);

pub(crate) const CLIENT_ID: &str = "roster-app";
pub(crate) const CLIENT_SECRET: &str = "provider-issued-client-secret-0123456789";

/// The provider, running until dropped.
pub(crate) struct Provider {
    pub(crate) issuer: String,
    stdin: ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    _child: Child,
}

impl Provider {
    pub(crate) async fn start(redirect_uri: &str, accounts: Value) -> Self {
        let node =
            std::env::var("ROSTER_NODE").expect("ROSTER_NODE: run `. scripts/deps.sh` first (scripts/test.sh does)");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/oidc_provider.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .env("ROSTER_NODE", node)
            .env("CLIENT_ID", CLIENT_ID)
            .env("CLIENT_SECRET", CLIENT_SECRET)
            .env("REDIRECT_URI", redirect_uri)
            .env("ACCOUNTS", accounts.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start node");
        let stdin = child.stdin.take().expect("stdin");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let issuer = loop {
            let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
                .await
                .expect("the provider starts")
                .expect("read")
                .expect("the provider exited");
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if let Some(i) = v["issuer"].as_str() {
                    break i.to_string();
                }
            }
        };
        Self {
            issuer,
            stdin,
            lines,
            _child: child,
        }
    }

    /// A new signing key (a new `kid`) replaces the old one.
    async fn rotate(&mut self) {
        self.command("rotate", "rotated").await;
    }

    /// From now on the token endpoint answers with an ID token forged as `how` says
    /// (`off`: the genuine one).
    async fn tamper(&mut self, how: &str) {
        self.command(&format!("tamper {how}"), "tampering").await;
    }

    async fn command(&mut self, line: &str, ack: &str) {
        self.stdin.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        loop {
            let line = self.lines.next_line().await.unwrap().expect("the provider exited");
            if line.contains(ack) {
                return;
            }
        }
    }
}

pub(crate) fn account(email: &str, groups: &[&str]) -> Value {
    json!({"email": email, "email_verified": true, "name": "Jo Person", "groups": groups})
}

/// The company `acme` with its verified domain, and an OIDC connection to a provider
/// with `accounts`. Returns the connection id and the provider.
pub(crate) async fn setup(app: &TestApp, accounts: Value) -> (String, Provider) {
    // The provider stamps its tokens with the real time.
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    app.clock.advance_ms(real - app.clock.now());
    app.create_org("acme", None).await;
    app.verified_domain("acme", "acme.example").await;
    let c = app
        .post_ok(
            "/api/v1/connections",
            json!({"company": "acme", "name": "acme-oidc", "protocol": "oidc", "domains": ["acme.example"],
                   "organizations": ["acme"], "default_organization": "acme",
                   "oidc": {"issuer": "http://127.0.0.1:9", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}}),
            201,
        )
        .await;
    let id = c["id"].as_str().unwrap().to_string();
    let redirect_uri = c["redirect_uri"].as_str().unwrap().to_string();
    assert_eq!(redirect_uri, app.url(&format!("/sso/oidc/{id}/callback")));
    assert!(
        c.to_string().find(CLIENT_SECRET).is_none(),
        "the secret is never returned"
    );
    let provider = Provider::start(&redirect_uri, accounts).await;
    let a = app
        .patch(
            &format!("/api/v1/connections/{id}"),
            json!({"oidc": {"issuer": provider.issuer, "client_id": CLIENT_ID, "scopes": "openid email profile groups"}}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    (id, provider)
}

/// A browser: its own cookies, redirects followed by hand.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Follows the sign-in from Roster's login through the provider's login and consent
/// pages (signing in as `login`), up to the URL of Roster's callback, not visited.
async fn to_callback(app: &TestApp, b: &reqwest::Client, conn: &str, login: &str) -> String {
    let start = app.url(&format!("/sso/oidc/{conn}/login?return_to=/me"));
    to_callback_from(app, b, &start, conn, login).await
}

/// [`to_callback`] from `start`, a URL that leads to the connection's login.
pub(crate) async fn to_callback_from(
    app: &TestApp,
    b: &reqwest::Client,
    start: &str,
    conn: &str,
    login: &str,
) -> String {
    let mut url = start.to_string();
    let callback = app.url(&format!("/sso/oidc/{conn}/callback"));
    let mut form: Option<Vec<(String, String)>> = None;
    for _ in 0..20 {
        let resp = match form.take() {
            Some(fields) => b.post(&url).form(&fields).send().await.unwrap(),
            None => b.get(&url).send().await.unwrap(),
        };
        let status = resp.status().as_u16();
        let here = resp.url().clone();
        if (300..400).contains(&status) {
            let location = resp.headers()["location"].to_str().unwrap().to_string();
            url = here.join(&location).unwrap().to_string();
            if url.starts_with(&callback) {
                return url;
            }
            continue;
        }
        let page = resp.text().await.unwrap();
        assert_eq!(status, 200, "{url}: {page}");
        // The provider's login or consent form.
        let action = between(&page, "action=\"", "\"").unwrap_or_else(|| panic!("no form at {url}: {page}"));
        url = here.join(&action.replace("&amp;", "&")).unwrap().to_string();
        let mut fields = vec![(
            "prompt".to_string(),
            between(&page, "name=\"prompt\" value=\"", "\"").unwrap_or_default(),
        )];
        if page.contains("name=\"login\"") {
            fields.push(("login".into(), login.into()));
            fields.push(("password".into(), "any".into()));
        }
        form = Some(fields);
    }
    panic!("the sign-in did not come back to the callback");
}

fn between(s: &str, start: &str, end: &str) -> Option<String> {
    let from = s.find(start)? + start.len();
    let len = s.get(from..)?.find(end)?;
    s.get(from..from + len).map(str::to_string)
}

/// Visits the callback URL; returns the status and the Location.
async fn callback(b: &reqwest::Client, url: &str) -> (u16, String) {
    let resp = b.get(url).send().await.unwrap();
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, location)
}

async fn me(app: &TestApp, b: &reqwest::Client) -> (u16, Value) {
    let resp = b.get(app.url("/api/v1/me")).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The newest error-log entry's code for connection `conn`.
async fn last_error(app: &TestApp, conn: &str) -> String {
    let a = app.get(&format!("/api/v1/connections/{conn}/errors")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body["errors"][0]["code"].as_str().unwrap_or_default().to_string()
}

async fn users(app: &TestApp) -> usize {
    let a = app.get("/api/v1/organizations/acme/members").await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body.as_array().map_or(0, Vec::len)
}

async fn j_g_signs_in_through_a_real_provider_with_jit_and_group_mapping(backend: Backend) {
    let app = spawn_app(backend).await;
    let (conn, _provider) = setup(
        &app,
        json!({"jo@acme.example": account("jo@acme.example", &["acme:engineering", "acme:ops", "other"])}),
    )
    .await;
    let b = browser();
    let url = to_callback(&app, &b, &conn, "jo@acme.example").await;
    let q: std::collections::HashMap<_, _> = url::Url::parse(&url).unwrap().query_pairs().into_owned().collect();
    assert!(q.contains_key("code") && q.contains_key("state"), "{url}");
    let (status, location) = callback(&b, &url).await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/me"),
        "{}",
        last_error(&app, &conn).await
    );
    let (status, me) = me(&app, &b).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["user"]["email"], "jo@acme.example");
    assert_eq!(me["user"]["full_name"], "Jo Person");
    let m = &me["memberships"][0];
    assert_eq!(m["organization"], "acme");
    assert_eq!(m["state"], "active");
    assert_eq!(m["teams"], json!(["engineering", "ops"]), "{me}");
    // The connection check finds the provider and its keys.
    let report = app
        .post_ok(&format!("/api/v1/connections/{conn}/check"), json!({}), 200)
        .await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["findings"].as_array().unwrap().len(), 3, "{report}");
    // The audit log says the session came over OIDC.
    let events = app.audit("limit=100").await;
    let start = events
        .iter()
        .find(|e| e["action"] == "session.start")
        .expect("session.start");
    assert_eq!(start["after"]["protocol"], "oidc", "{start}");
}

async fn the_connection_check_says_what_is_wrong(app: &TestApp, conn: &str) {
    // No provider answers at this issuer.
    let a = app
        .patch(
            &format!("/api/v1/connections/{conn}"),
            json!({"oidc": {"issuer": "http://127.0.0.1:9", "client_id": CLIENT_ID}}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    // Sign-ins fail cleanly, and the second within moments does not ask the provider again.
    for attempt in 0..2 {
        let resp = browser()
            .get(app.url(&format!("/sso/oidc/{conn}/login")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 502, "attempt {attempt}");
        let log = app.get(&format!("/api/v1/connections/{conn}/errors")).await.body;
        assert_eq!(log["errors"][0]["code"], "oidc_provider_unreachable", "{log}");
        let detail = log["errors"][0]["detail"].as_str().unwrap();
        assert_eq!(detail.contains("moments ago"), attempt == 1, "{detail}");
    }
    let report = app
        .post_ok(&format!("/api/v1/connections/{conn}/check"), json!({}), 200)
        .await;
    assert_eq!(report["ok"], false, "{report}");
    let discovery = &report["findings"][1];
    assert_eq!(
        (discovery["step"].as_str(), discovery["ok"].as_bool()),
        (Some("discovery"), Some(false))
    );
    assert!(
        discovery["message"]
            .as_str()
            .unwrap()
            .contains("discovery document cannot be reached"),
        "{report}"
    );
}

async fn a_callback_from_another_browser_or_used_twice_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (conn, _provider) = setup(&app, json!({"jo@acme.example": account("jo@acme.example", &[])})).await;
    let b = browser();
    let url = to_callback(&app, &b, &conn, "jo@acme.example").await;
    // Posted from another browser (login CSRF): refused, and the sign-in stays pending.
    let other = browser();
    let (status, _) = callback(&other, &url).await;
    assert_eq!(status, 400);
    assert_eq!(last_error(&app, &conn).await, "oidc_other_browser");
    assert_eq!(me(&app, &other).await.0, 401);
    assert_eq!(users(&app).await, 0, "no directory change");
    // The browser that started it completes it, once.
    assert_eq!(callback(&b, &url).await.0, 303);
    let (status, _) = callback(&b, &url).await;
    assert_eq!(status, 400);
    assert_eq!(last_error(&app, &conn).await, "oidc_unknown_state");
    // A made-up state.
    let forged = url.replace("state=", "state=_0");
    assert_eq!(callback(&b, &forged).await.0, 400);
    assert_eq!(last_error(&app, &conn).await, "oidc_unknown_state");
    the_connection_check_says_what_is_wrong(&app, &conn).await;
}

async fn a4_j10_the_providers_refusals_and_unverified_emails_end_the_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut unverified = account("kim@acme.example", &[]);
    unverified["email_verified"] = json!(false);
    let mut other_tenant = account("lee@acme.example", &[]);
    other_tenant["hd"] = json!("personal.example");
    let mut workspace = account("max@acme.example", &[]);
    workspace["hd"] = json!("acme.example");
    let (conn, provider) = setup(
        &app,
        json!({"kim@acme.example": unverified, "eve@evil.example": account("eve@evil.example", &[]),
               "lee@acme.example": other_tenant, "max@acme.example": workspace}),
    )
    .await;
    // The provider answers error=access_denied.
    let b = browser();
    let url = to_callback(&app, &b, &conn, "kim@acme.example").await;
    let state = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let denied = app.url(&format!(
        "/sso/oidc/{conn}/callback?error=access_denied&error_description=no&state={state}&iss={}",
        url::form_urlencoded::byte_serialize(provider.issuer.as_bytes()).collect::<String>()
    ));
    assert_eq!(callback(&b, &denied).await.0, 403);
    assert_eq!(last_error(&app, &conn).await, "oidc_provider_error");
    // email_verified false.
    let b = browser();
    let url = to_callback(&app, &b, &conn, "kim@acme.example").await;
    assert_eq!(callback(&b, &url).await.0, 400);
    assert_eq!(last_error(&app, &conn).await, "oidc_email_not_verified");
    // An email outside the connection's verified domains (A4).
    let b = browser();
    let url = to_callback(&app, &b, &conn, "eve@evil.example").await;
    assert_eq!(callback(&b, &url).await.0, 403);
    assert_eq!(me(&app, &b).await.0, 401);
    // A code the provider does not know: its token endpoint refuses it.
    let b = browser();
    let url = to_callback(&app, &b, &conn, "kim@acme.example").await;
    let wrong = url::Url::parse(&url).unwrap();
    let pairs: Vec<(String, String)> = wrong
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "code" {
                "not-a-code".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    let mut wrong = wrong.clone();
    wrong.query_pairs_mut().clear().extend_pairs(pairs);
    assert_eq!(callback(&b, wrong.as_str()).await.0, 400);
    assert_eq!(last_error(&app, &conn).await, "oidc_token_error");
    // RFC 9207: an `iss` that is not the issuer (a mix-up), and none from a provider that
    // says it sends one.
    for replace_with in [Some("https://evil.example"), None] {
        let b = browser();
        let url = url::Url::parse(&to_callback(&app, &b, &conn, "kim@acme.example").await).unwrap();
        assert!(
            url.query_pairs().any(|(k, _)| k == "iss"),
            "oidc-provider sends iss: {url}"
        );
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "iss" || replace_with.is_some())
            .map(|(k, v)| {
                let v = match (k.as_ref(), replace_with) {
                    ("iss", Some(other)) => other.to_string(),
                    _ => v.into_owned(),
                };
                (k.into_owned(), v)
            })
            .collect();
        let mut mixed = url.clone();
        mixed.query_pairs_mut().clear().extend_pairs(pairs);
        assert_eq!(callback(&b, mixed.as_str()).await.0, 400, "{replace_with:?}");
        assert_eq!(last_error(&app, &conn).await, "oidc_token_error", "{replace_with:?}");
    }
    // A provider whose issuer every account shares: the connection pins the tenant
    // (Google's `hd`), and an account of another one is refused.
    let a = app
        .patch(
            &format!("/api/v1/connections/{conn}"),
            json!({"oidc": {"issuer": provider.issuer, "client_id": CLIENT_ID, "scopes": "openid email profile groups",
                            "required_claims": {"hd": "acme.example"}}}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let b = browser();
    let url = to_callback(&app, &b, &conn, "lee@acme.example").await;
    assert_eq!(callback(&b, &url).await.0, 403);
    assert_eq!(last_error(&app, &conn).await, "oidc_claim_mismatch");
    assert_eq!(users(&app).await, 0, "no directory change");
    let b = browser();
    let url = to_callback(&app, &b, &conn, "max@acme.example").await;
    assert_eq!(callback(&b, &url).await.0, 303, "{}", last_error(&app, &conn).await);
    assert_eq!(users(&app).await, 1);
}

async fn a_key_rotation_at_the_provider_needs_no_restart(backend: Backend) {
    let app = spawn_app(backend).await;
    let (conn, mut provider) = setup(&app, json!({"jo@acme.example": account("jo@acme.example", &[])})).await;
    for round in 0..2 {
        let b = browser();
        let url = to_callback(&app, &b, &conn, "jo@acme.example").await;
        let (status, _) = callback(&b, &url).await;
        assert_eq!(status, 303, "round {round}: {}", last_error(&app, &conn).await);
        assert_eq!(me(&app, &b).await.0, 200);
        provider.rotate().await;
    }
}

async fn forged_id_tokens_are_refused_at_the_callback(backend: Backend) {
    let app = spawn_app(backend).await;
    let (conn, mut provider) = setup(&app, json!({"jo@acme.example": account("jo@acme.example", &[])})).await;
    // Each rule of the ID token check, broken in a token that otherwise comes from the
    // provider as it is (the claim rules with the provider's own signature).
    let forgeries = [
        ("alg_none", "oidc_invalid_token", "'none'"),
        ("hmac_with_public_key", "oidc_invalid_token", "'HS256'"),
        ("key_in_header", "oidc_invalid_token", "signature does not verify"),
        ("jku", "oidc_invalid_token", "does not hold"),
        ("tampered_payload", "oidc_invalid_token", "signature does not verify"),
        ("crit", "oidc_invalid_token", "crit"),
        ("wrong_issuer", "oidc_invalid_token", "claim iss"),
        ("wrong_audience", "oidc_invalid_token", "claim aud"),
        ("several_audiences_without_azp", "oidc_invalid_token", "claim aud"),
        ("wrong_azp", "oidc_invalid_token", "claim azp"),
        ("expired", "oidc_invalid_token", "claim exp"),
        ("issued_in_the_future", "oidc_invalid_token", "claim iat"),
        ("not_yet_valid", "oidc_invalid_token", "claim nbf"),
        ("no_exp", "oidc_invalid_token", "claim exp"),
        ("wrong_nonce", "oidc_invalid_token", "claim nonce"),
        ("no_nonce", "oidc_invalid_token", "claim nonce"),
        ("no_sub", "oidc_invalid_token", "claim sub"),
        ("garbage", "oidc_invalid_token", "three dot-separated"),
        ("huge", "oidc_token_error", "more than 256 KiB"),
    ];
    for (how, code, why) in forgeries {
        provider.tamper(how).await;
        let b = browser();
        let url = to_callback(&app, &b, &conn, "jo@acme.example").await;
        let (status, _) = callback(&b, &url).await;
        assert_eq!(status, 400, "{how}");
        let log = app.get(&format!("/api/v1/connections/{conn}/errors")).await.body;
        assert_eq!(log["errors"][0]["code"], code, "{how}: {log}");
        let detail = log["errors"][0]["detail"].as_str().unwrap();
        assert!(detail.contains(why), "{how}: refused for '{detail}', not for {why}");
        assert_eq!(me(&app, &b).await.0, 401, "{how}: no session");
    }
    assert_eq!(users(&app).await, 0, "no directory change");
    // The same sign-in with the genuine token goes through.
    provider.tamper("off").await;
    let b = browser();
    let url = to_callback(&app, &b, &conn, "jo@acme.example").await;
    assert_eq!(callback(&b, &url).await.0, 303);
    assert_eq!(users(&app).await, 1);
}

/// A stand-in for Microsoft Graph's `/me/transitiveMemberOf/microsoft.graph.group`,
/// answering `pages` of group names as Graph does (`value`, `@odata.nextLink`) to a
/// bearer token. Returns its base URL and the count of requests it answered.
async fn graph_stand_in(pages: Vec<Vec<&'static str>>) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use axum::extract::{Query, State};
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1.0", listener.local_addr().unwrap());
    let calls = Arc::new(AtomicUsize::new(0));
    let path = "/v1.0/me/transitiveMemberOf/microsoft.graph.group";
    let this_page = format!("{base}/me/transitiveMemberOf/microsoft.graph.group");
    let handler = move |State(calls): State<Arc<AtomicUsize>>,
                        headers: axum::http::HeaderMap,
                        Query(q): Query<HashMap<String, String>>| {
        let pages = pages.clone();
        let this_page = this_page.clone();
        async move {
            let bearer = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.len() > "Bearer ".len() && v.starts_with("Bearer "));
            if !bearer {
                return (
                    axum::http::StatusCode::UNAUTHORIZED,
                    axum::Json(json!({"error": {"code": "InvalidAuthenticationToken"}})),
                );
            }
            calls.fetch_add(1, Ordering::SeqCst);
            let n: usize = q.get("$skiptoken").and_then(|t| t.parse().ok()).unwrap_or(0);
            let value: Vec<Value> = pages[n]
                .iter()
                .enumerate()
                .map(|(i, name)| json!({"@odata.type": "#microsoft.graph.group", "id": format!("{n}-{i}"), "displayName": name}))
                .collect();
            let mut page = json!({"value": value});
            if n + 1 < pages.len() {
                page["@odata.nextLink"] = json!(format!("{this_page}?$skiptoken={}", n + 1));
            }
            (axum::http::StatusCode::OK, axum::Json(page))
        }
    };
    let router = axum::Router::new()
        .route(path, axum::routing::get(handler))
        .with_state(calls.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (base, calls)
}

async fn a2_an_entra_group_overage_is_read_from_graph_when_asked(backend: Backend) {
    let app = spawn_app(backend).await;
    // Entra's overage: no `groups`, a pointer to where they are instead.
    let overage = |email: &str| {
        let mut a = account(email, &[]);
        a.as_object_mut().unwrap().remove("groups");
        a["_claim_names"] = json!({"groups": "src1"});
        a["_claim_sources"] = json!({"src1": {"endpoint": "https://graph.windows.net/t/users/u/getMemberObjects"}});
        a
    };
    let (conn, provider) = setup(
        &app,
        json!({"jo@acme.example": overage("jo@acme.example"), "kim@acme.example": overage("kim@acme.example")}),
    )
    .await;
    // Without graph_groups: signed in without group mapping, and the session's event says why.
    let b = browser();
    let url = to_callback(&app, &b, &conn, "jo@acme.example").await;
    assert_eq!(callback(&b, &url).await.0, 303, "{}", last_error(&app, &conn).await);
    let (_, me1) = me(&app, &b).await;
    assert_eq!(me1["memberships"][0]["teams"], json!([]), "{me1}");
    let events = app.audit("limit=100").await;
    let start = events.iter().find(|e| e["action"] == "session.start").unwrap();
    assert!(
        start["after"]["warnings"].to_string().contains("left the groups out"),
        "{start}"
    );
    // With graph_groups: every page of Graph read, the groups mapped.
    let (graph, calls) = graph_stand_in(vec![vec!["acme:engineering", "acme:ops"], vec!["acme:design"]]).await;
    let a = app
        .patch(
            &format!("/api/v1/connections/{conn}"),
            json!({"oidc": {"issuer": provider.issuer, "client_id": CLIENT_ID, "scopes": "openid email profile groups",
                            "graph_groups": true, "graph_url": graph}}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let b = browser();
    let url = to_callback(&app, &b, &conn, "kim@acme.example").await;
    assert_eq!(callback(&b, &url).await.0, 303, "{}", last_error(&app, &conn).await);
    let (_, me2) = me(&app, &b).await;
    assert_eq!(me2["user"]["email"], "kim@acme.example");
    let mut teams: Vec<String> = serde_json::from_value(me2["memberships"][0]["teams"].clone()).unwrap();
    teams.sort();
    assert_eq!(teams, ["design", "engineering", "ops"], "{me2}");
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2, "both pages read");
}
