//! The admin console in a real browser: Debian's headless Chromium driven by
//! `tests/fixtures/console_browser.mjs` (playwright-core, which downloads no browser),
//! every page checked by axe-core, screenshots under `target/console-screenshots/`.

use crate::helpers::{spawn_app, Backend, ADMIN_TOKEN};
use crate::oauth2::sign_in_with_groups;
use crate::saml::{setup, IDP_ENTITY};
use roster_testidp::Idp;
use serde_json::{json, Value};
use std::process::Stdio;

crate::on_both_backends!(the_console_works_in_a_browser_by_keyboard_and_passes_axe);

async fn the_console_works_in_a_browser_by_keyboard_and_passes_axe(backend: Backend) {
    let app = spawn_app(backend).await;
    let idp = Idp::rsa(IDP_ENTITY);
    let conn = setup(&app, &idp, json!({})).await;
    app.add_member("acme", "ann@acme.test", "owner").await;
    app.add_member("acme", "bob@acme.test", "member").await;
    let other = app.create_org("other", None).await;
    app.add_member("other", "olga@other.test", "owner").await;
    // Ann signs in through the IdP; the browser gets the cookie it would hold then.
    let (_, session) = sign_in_with_groups(
        &app,
        &idp,
        &conn,
        &format!("/sso/saml/{conn}/login?return_to=%2Fadmin%2Fsso%2Fdone"),
        "ann@acme.test",
        &[],
    )
    .await;
    let (name, value) = session.split_once('=').unwrap();

    let node = std::env::var("ROSTER_NODE").expect("ROSTER_NODE: run `. scripts/deps.sh` first (scripts/test.sh does)");
    let screenshots = format!(
        "{}/../../target/console-screenshots/{}",
        env!("CARGO_MANIFEST_DIR"),
        format!("{backend:?}").to_lowercase()
    );
    let input = json!({
        "base": app.base, "adminToken": ADMIN_TOKEN, "ownerCookie": {"name": name, "value": value},
        "otherOrg": other["id"], "member": "bob@acme.test", "screenshots": screenshots,
    });
    let out = tokio::process::Command::new("node")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/console_browser.mjs"
        ))
        .env("ROSTER_NODE", node)
        .env("CONSOLE_TEST", input.to_string())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser run failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
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
    assert_eq!(report["steps"].as_array().unwrap().len(), 15, "{report}");
    // What the browser did, done.
    let bob = app.get("/api/v1/organizations/acme/members/bob@acme.test").await;
    assert_eq!(bob.body["state"], "deactivated");
    assert!(std::path::Path::new(&format!("{screenshots}/organization.png")).exists());
}
