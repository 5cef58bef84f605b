//! The admin console in a real browser: Debian's headless Chromium driven by
//! `tests/fixtures/console_browser.mjs` (playwright-core, which downloads no browser),
//! every page checked by axe-core, screenshots under `target/console-screenshots/`.
//!
//! The browser does what an operator does from an empty server: an organization, a
//! domain, a SAML connection from an uploaded metadata file, the ACS URL copied, a
//! test sign-in answered by a response signed with xmlsec1, the new member, the
//! playground, "why", the audit log; then an owner kept to their company, and a setup
//! link that does its job and stops when revoked or expired. What only the IdP or
//! the clock can do, the script asks of this test over its stdout and stdin.

use crate::helpers::{spawn_app, Backend, TestApp, ADMIN_TOKEN};
use crate::oauth2::sign_in_with_groups;
use crate::saml::{spec, IDP_ENTITY};
use base64::Engine;
use roster_testidp::{post_field, Idp, Shape};
use serde_json::{json, Value};
use std::io::Read;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

crate::on_both_backends!(the_console_works_in_a_browser_by_keyboard_and_passes_axe);

/// The ID of the AuthnRequest in a Redirect-binding `SAMLRequest` value.
fn request_id(saml_request: &str) -> String {
    let deflated = base64::engine::general_purpose::STANDARD.decode(saml_request).unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&deflated[..])
        .read_to_string(&mut xml)
        .unwrap();
    crate::saml::request_id(&xml)
}

/// Answers one question of the browser script.
async fn answer(app: &TestApp, idp: &Idp, ask: &Value) -> Value {
    let conn = ask["connection"].as_str().unwrap_or_default();
    match ask["ask"].as_str().unwrap() {
        // The IdP's answer to the AuthnRequest the browser was sent with, signed by xmlsec1.
        "sign" => {
            let id = request_id(ask["samlRequest"].as_str().unwrap());
            let s = spec(app, conn, Shape::Okta, ask["email"].as_str().unwrap()).in_response_to(&id);
            json!({"samlResponse": post_field(&idp.response(&s)), "acs": app.url(&format!("/sso/saml/{conn}/acs"))})
        }
        // An owner of the company, signed in through its SSO: the cookie they hold.
        "owner" => {
            app.add_member("acme", "ann@acme.test", "owner").await;
            let (_, session) = sign_in_with_groups(
                app,
                idp,
                conn,
                &format!("/sso/saml/{conn}/login?return_to=%2Fadmin%2Fsso%2Fdone"),
                "ann@acme.test",
                &[],
            )
            .await;
            let (name, value) = session.split_once('=').unwrap();
            json!({"name": name, "value": value})
        }
        "advance" => {
            app.clock.advance_ms(ask["ms"].as_i64().unwrap());
            json!({})
        }
        other => panic!("the script asked for {other}"),
    }
}

async fn the_console_works_in_a_browser_by_keyboard_and_passes_axe(backend: Backend) {
    let app = spawn_app(backend).await;
    let idp = Idp::rsa(IDP_ENTITY);
    let other = app.create_org("other", None).await;
    app.add_member("other", "olga@other.test", "owner").await;
    let metadata = std::env::temp_dir().join(format!(
        "roster-console-idp-metadata-{}-{backend:?}.xml",
        std::process::id()
    ));
    std::fs::write(&metadata, idp.metadata("https://idp.example.test/sso")).unwrap();

    let node = std::env::var("ROSTER_NODE").expect("ROSTER_NODE: run `. scripts/deps.sh` first (scripts/test.sh does)");
    let screenshots = format!(
        "{}/../../target/console-screenshots/{}",
        env!("CARGO_MANIFEST_DIR"),
        format!("{backend:?}").to_lowercase()
    );
    let input = json!({
        "base": app.base, "adminToken": ADMIN_TOKEN, "otherOrg": other["id"],
        "metadataFile": metadata, "newMember": "cy@acme.test", "screenshots": screenshots,
    });
    let mut child = tokio::process::Command::new("node")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/console_browser.mjs"
        ))
        .env("ROSTER_NODE", node)
        .env("CONSOLE_TEST", input.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node");
    let mut to_script = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut last = String::new();
    let run = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let msg: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if msg.get("ask").is_some() {
                let reply = answer(&app, &idp, &msg).await;
                to_script.write_all(format!("{reply}\n").as_bytes()).await.unwrap();
            } else {
                last = line;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(240), run)
        .await
        .expect("the browser run ended within 4 minutes");
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "the browser run failed: {last}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&last).unwrap();
    assert_eq!(
        report["violations"],
        json!([]),
        "serious or critical accessibility violations"
    );
    assert_eq!(
        report["consoleErrors"],
        json!([]),
        "errors in the browser (a CSP refusal shows here)"
    );
    assert_eq!(report["steps"].as_array().unwrap().len(), 35, "{report}");
    // What the browser did, done.
    let c = app.get("/api/v1/connections/okta").await.body;
    assert_eq!(
        (c["configured"].as_bool(), c["domains"].clone()),
        (Some(true), json!(["acme.test"]))
    );
    let cy = app.get("/api/v1/organizations/acme/members/cy@acme.test").await;
    assert_eq!(cy.body["state"], "deactivated", "{}", cy.body);
    assert!(std::path::Path::new(&format!("{screenshots}/connection.png")).exists());
    assert!(std::path::Path::new(&format!("{screenshots}/setup.png")).exists());
}
