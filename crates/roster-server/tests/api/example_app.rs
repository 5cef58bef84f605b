//! The example app of `examples/node-app`, run as its README says: a person signs in to
//! it through Roster (upstream through a SAML IdP) and its page shows their
//! organization and teams; signing out of it signs them out of Roster.

use crate::helpers::{spawn_app, Backend, TestApp};
use crate::saml::{no_redirects, setup, IDP_ENTITY};
use reqwest::header::{LOCATION, SET_COOKIE};
use roster_testidp::Idp;
use serde_json::{json, Value};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

crate::on_both_backends!(the_example_app_signs_people_in_through_roster);

/// The example app, running until dropped. Its file is copied next to the Node
/// packages the test scripts installed, where its `import 'openid-client'` resolves.
async fn start_example(app: &TestApp, client_id: &str, secret: &str) -> (String, tokio::process::Child) {
    let node = std::env::var("ROSTER_NODE").expect("ROSTER_NODE: run `. scripts/deps.sh` first (scripts/test.sh does)");
    let dir = std::path::Path::new(&node).join(format!("example-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/node-app/server.mjs");
    std::fs::copy(source, dir.join("server.mjs")).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app_url = format!("http://127.0.0.1:{port}");
    let mut child = Command::new("node")
        .arg(dir.join("server.mjs"))
        .env("ROSTER_ISSUER", &app.base)
        .env("CLIENT_ID", client_id)
        .env("CLIENT_SECRET", secret)
        .env("APP_URL", &app_url)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
        .await
        .expect("the example starts")
        .unwrap()
        .expect("the example exited");
    let started: Value = serde_json::from_str(&line).unwrap();
    assert!(started["listening"].as_str().unwrap().starts_with(&app_url));
    let _ = std::fs::remove_dir_all(&dir);
    (app_url, child)
}

async fn the_example_app_signs_people_in_through_roster(backend: Backend) {
    let app = spawn_app(backend).await;
    // The library checks the tokens' times against the real clock.
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    app.clock.advance_ms(real - app.clock.now());
    let idp = Idp::rsa(IDP_ENTITY);
    let conn = setup(&app, &idp, json!({})).await;
    let created_for = |app_url: &str| {
        json!({"company": "acme", "name": "Example app", "redirect_uris": [format!("{app_url}/callback")],
               "post_logout_redirect_uris": [format!("{app_url}/")]})
    };
    // The app needs its client_id to start, and the registration its URL: register
    // with a placeholder and fix the URIs once the app listens.
    let created = app
        .post_ok("/api/v1/apps", created_for("http://127.0.0.1:1"), 201)
        .await;
    let (client_id, secret) = (
        created["client_id"].as_str().unwrap().to_string(),
        created["client_secret"].as_str().unwrap().to_string(),
    );
    let (app_url, _example) = start_example(&app, &client_id, &secret).await;
    let mut patch = created_for(&app_url);
    patch.as_object_mut().unwrap().remove("company");
    let a = app.patch(&format!("/api/v1/apps/{client_id}"), patch).await;
    assert_eq!(a.status, 200, "{}", a.body);

    // The browser: the app's sign-in link, with the person's email as the hint.
    let b = no_redirects();
    let home = b.get(format!("{app_url}/")).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("href=\"/login\""), "{home}");
    let resp = b
        .get(format!("{app_url}/login?email=ann%40acme.test"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let app_cookie = resp.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let authorize = resp.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(authorize.starts_with(&app.url("/oauth2/authorize?")), "{authorize}");
    let resp = b.get(&authorize).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let to_login = resp.headers()[LOCATION].to_str().unwrap().to_string();
    let (back, roster_cookie) =
        crate::oauth2::sign_in_with_groups(&app, &idp, &conn, &to_login, "ann@acme.test", &["acme:eng", "acme:ops"])
            .await;
    let resp = b
        .get(app.url(&back))
        .header("cookie", &roster_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let callback = resp.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(callback.starts_with(&format!("{app_url}/callback?")), "{callback}");
    let resp = b.get(&callback).header("cookie", &app_cookie).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    // A new session id once signed in; the one from before the sign-in is worth nothing.
    let signed_in_cookie = resp.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_ne!(signed_in_cookie, app_cookie);
    let stale = b
        .get(format!("{app_url}/"))
        .header("cookie", &app_cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(stale.contains("href=\"/login\""), "{stale}");
    let app_cookie = signed_in_cookie;

    // The app's page: who signed in, their organization, role and teams.
    let page = b
        .get(format!("{app_url}/"))
        .header("cookie", &app_cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("ann@acme.test"), "{page}");
    assert!(page.contains("<li>acme (member): eng, ops</li>"), "{page}");

    // Signing out of the app signs out of Roster and comes back to the app.
    let resp = b
        .post(format!("{app_url}/logout"))
        .header("cookie", &app_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let end = resp.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(end.starts_with(&app.url("/oauth2/logout?")), "{end}");
    let resp = b.get(&end).header("cookie", &roster_cookie).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()[LOCATION], format!("{app_url}/"));
    let me = b
        .get(app.url("/api/v1/me"))
        .header("cookie", &roster_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
}
