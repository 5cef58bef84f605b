//! The console's connection pages over HTTP: a connection made and set up from its
//! pages (metadata uploaded, switches with their rules, SCIM tokens shown once, a test
//! sign-in, the error log), and self-serve setup links, which do that one connection's
//! IdP setup and nothing more, in one browser, until revoked or expired.

use crate::console::{csrf, field, get, operator, post, send, Page};
use crate::helpers::{spawn_app, Backend, TestApp};
use crate::oauth2::sign_in_with_groups;
use crate::saml::{no_redirects, IDP_ENTITY};
use roster_testidp::Idp;
use serde_json::json;

crate::on_both_backends!(
    a_saml_connection_is_made_and_set_up_from_its_pages,
    an_oidc_connection_is_set_up_and_checked_from_its_page,
    a_setup_link_does_its_job_and_nothing_more,
);

/// A `multipart/form-data` POST of `fields`, as a browser sends a form with a file.
async fn post_multipart(app: &TestApp, path: &str, cookie: &str, fields: &[(&str, &str)]) -> Page {
    let boundary = "----rosterTestBoundary7MA4YWxkTrZu0gW";
    let mut body = String::new();
    for (name, value) in fields {
        let file = if *name == "metadata_file" {
            "; filename=\"idp-metadata.xml\"\r\nContent-Type: application/xml"
        } else {
            ""
        };
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    send(
        no_redirects()
            .post(app.url(path))
            .header("cookie", cookie)
            .header("sec-fetch-site", "same-origin")
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body),
    )
    .await
}

async fn scim_status(app: &TestApp, token: &str) -> u16 {
    reqwest::Client::new()
        .get(app.url("/scim/v2/Users"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn a_saml_connection_is_made_and_set_up_from_its_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_org("acme", None).await;
    app.verified_domain("acme", "acme.test").await;
    let cookie = operator(&app).await;
    let token = csrf(&get(&app, "/admin/connections", &cookie).await.body);

    // Made from the list: then on to its guided setup.
    let p = post(
        &app,
        "/admin/connections",
        &cookie,
        &[
            ("company", "acme"),
            ("name", "okta"),
            ("protocol", "saml"),
            ("default_organization", "acme"),
            ("domains", "acme.test"),
            ("_csrf", &token),
        ],
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let id = p
        .location
        .strip_prefix("/admin/connections/")
        .and_then(|rest| rest.split('?').next())
        .unwrap()
        .to_string();
    let base = format!("/admin/connections/{id}");
    let page = get(&app, &p.location, &cookie).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("not set up yet"), "{}", page.body);
    // The values to copy are the connection's own.
    assert_eq!(field(&page.body, "v-acs"), app.url(&format!("/sso/saml/{id}/acs")));
    assert_eq!(
        field(&page.body, "v-entity"),
        app.url(&format!("/sso/saml/{id}/metadata"))
    );
    assert!(page.body.contains("data-copy=\"v-acs\""));

    // The IdP's metadata, uploaded as a file: its entity id, SSO URL and certificate.
    let idp = Idp::rsa(IDP_ENTITY);
    let metadata = idp.metadata("https://idp.example.test/sso");
    let p = post_multipart(
        &app,
        &format!("{base}/saml"),
        &cookie,
        &[("_csrf", &token), ("metadata_file", &metadata)],
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("metadata is saved"), "{}", p.body);
    assert!(p.body.contains(IDP_ENTITY) && p.body.contains("https://idp.example.test/sso"));
    assert!(p.body.contains("signing certificates") && p.body.contains("Expires"));
    let c = app.get(&format!("/api/v1/connections/{id}")).await.body;
    assert_eq!(c["configured"], true, "{c}");
    // Metadata that is not metadata: the reason, on the page; the settings stay.
    let p = post_multipart(
        &app,
        &format!("{base}/saml"),
        &cookie,
        &[("_csrf", &token), ("metadata_xml", "<not-metadata/>")],
    )
    .await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("role=\"alert\""), "{}", p.body);
    let p = post_multipart(&app, &format!("{base}/saml"), &cookie, &[("_csrf", &token)]).await;
    assert!(p.body.contains("Choose the metadata file"), "{}", p.body);
    assert_eq!(
        app.get(&format!("/api/v1/connections/{id}")).await.body["configured"],
        true
    );
    // Without the CSRF token: refused.
    let p = post_multipart(&app, &format!("{base}/saml"), &cookie, &[("metadata_xml", &metadata)]).await;
    assert_eq!(p.status, 403);

    // The switches keep J8: JIT off needs SCIM on.
    let p = post(&app, &format!("{base}/provisioning"), &cookie, &[("_csrf", &token)]).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("role=\"alert\""), "{}", p.body);
    assert_eq!(app.get(&format!("/api/v1/connections/{id}")).await.body["jit"], true);
    let p = post(
        &app,
        &format!("{base}/provisioning"),
        &cookie,
        &[("scim", "on"), ("_csrf", &token)],
    )
    .await;
    assert!(p.body.contains("Provisioning is saved"), "{}", p.body);
    let c = app.get(&format!("/api/v1/connections/{id}")).await.body;
    assert_eq!((c["jit"].as_bool(), c["scim"].as_bool()), (Some(false), Some(true)));
    post(
        &app,
        &format!("{base}/provisioning"),
        &cookie,
        &[("jit", "on"), ("scim", "on"), ("_csrf", &token)],
    )
    .await;

    // A SCIM token, shown once; it works until revoked.
    let p = post(&app, &format!("{base}/scim-tokens"), &cookie, &[("_csrf", &token)]).await;
    assert_eq!(p.status, 200);
    let secret = field(&p.body, "v-token");
    assert!(secret.starts_with("scim_"), "{secret}");
    assert_eq!(scim_status(&app, &secret).await, 200);
    assert!(!get(&app, &base, &cookie).await.body.contains(&secret), "shown once");
    let created = reqwest::Client::new()
        .post(app.url("/scim/v2/Users"))
        .bearer_auth(&secret)
        .header("content-type", "application/scim+json")
        .body(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "cy@acme.test"}).to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let token_id = app.get(&format!("/api/v1/connections/{id}/scim-tokens")).await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p = post(
        &app,
        &format!("{base}/scim-tokens/{token_id}/revoke"),
        &cookie,
        &[("_csrf", &token)],
    )
    .await;
    assert!(p.body.contains("revoked"), "{}", p.body);
    assert_eq!(scim_status(&app, &secret).await, 401);

    // The test sign-in goes through the IdP and lands on the page that says who.
    let page = get(&app, &base, &cookie).await;
    let login = format!("/sso/saml/{id}/login?return_to=%2Fme");
    assert!(page.body.contains(&login), "{}", page.body);
    let (back, _) = sign_in_with_groups(&app, &idp, &id, &login, "ann@acme.test", &[]).await;
    assert_eq!(back, "/me");
    // The overview's chart counts the sign-in and the SCIM changes of today.
    let scim_changes = app
        .audit(&format!("connection={id}&limit=1000"))
        .await
        .iter()
        .filter(|e| e["actor"]["kind"] == "scim")
        .count();
    assert!(scim_changes > 0);
    // (On PostgreSQL the log is read behind the oldest running transaction, which
    // another test's may hold back for a moment.)
    let counts = format!("Sign-ins: 1 · SCIM changes: {scim_changes}");
    let mut p = get(&app, "/admin", &cookie).await;
    for _ in 0..100 {
        if p.body.contains(&counts) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        p = get(&app, "/admin", &cookie).await;
    }
    assert!(p.body.contains(&counts), "{}", p.body);
    assert!(p.body.contains("<svg class=\"chart\" role=\"img\""));
    assert!(p.body.contains(": 1 sign-ins</title>"));
    // A failed sign-in is in the error log, with its trace id.
    let bad = reqwest::Client::new()
        .post(app.url(&format!("/sso/saml/{id}/acs")))
        .form(&[("SAMLResponse", "bm90IGEgcmVzcG9uc2U=")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let trace = bad.headers()["x-trace-id"].to_str().unwrap().to_string();
    let page = get(&app, &base, &cookie).await;
    assert!(page.body.contains(&trace), "{}", page.body);

    // The check, from the page.
    let p = post(&app, &format!("{base}/check"), &cookie, &[("_csrf", &token)]).await;
    assert!(p.body.contains("The check passed"), "{}", p.body);

    // Every change is audited as the operator's, through the admin token.
    let events = app.audit(&format!("connection={id}")).await;
    for action in ["connection.update", "scim_token.create", "scim_token.revoke"] {
        let e = events
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("{action} in {events:?}"));
        assert_eq!(e["actor"]["kind"], "admin", "{e}");
    }
}

async fn an_oidc_connection_is_set_up_and_checked_from_its_page(backend: Backend) {
    use crate::oidc::{account, Provider, CLIENT_ID, CLIENT_SECRET};
    let app = spawn_app(backend).await;
    app.create_org("acme", None).await;
    let cookie = operator(&app).await;
    let token = csrf(&get(&app, "/admin/connections", &cookie).await.body);
    let p = post(
        &app,
        "/admin/connections",
        &cookie,
        &[
            ("company", "acme"),
            ("name", "google"),
            ("protocol", "oidc"),
            ("default_organization", "acme"),
            ("_csrf", &token),
        ],
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let page = get(&app, &p.location, &cookie).await;
    let redirect_uri = field(&page.body, "v-redirect");
    let id = redirect_uri
        .split("/sso/oidc/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(redirect_uri, app.url(&format!("/sso/oidc/{id}/callback")));
    assert!(page.body.contains("not set up yet"));
    let provider = Provider::start(&redirect_uri, json!([account("ann@acme.test", &[])])).await;

    // Saved, then checked against the provider: its discovery document and keys.
    let base = format!("/admin/connections/{id}");
    let issuer = provider.issuer.clone();
    let p = post(
        &app,
        &format!("{base}/oidc"),
        &cookie,
        &[
            ("issuer", &issuer),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("_csrf", &token),
        ],
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("The OIDC client is saved"), "{}", p.body);
    assert!(!p.body.contains(CLIENT_SECRET), "the secret is never shown");
    assert!(!p.body.contains("<span class=\"bad\">Failed</span>"), "{}", p.body);
    assert!(
        p.body.contains("Passed</span> (discovery)") && p.body.contains("Passed</span> (keys)"),
        "{}",
        p.body
    );
    assert!(p.body.contains("the IdP side is set up") && p.body.contains("set; leave empty to keep it"));
    // Saving again without the secret keeps it.
    let p = post(
        &app,
        &format!("{base}/oidc"),
        &cookie,
        &[
            ("issuer", &issuer),
            ("client_id", CLIENT_ID),
            ("client_secret", ""),
            ("_csrf", &token),
        ],
    )
    .await;
    assert!(p.body.contains("Passed</span> (settings)"), "{}", p.body);
    assert_eq!(
        app.get(&format!("/api/v1/connections/{id}")).await.body["configured"],
        true
    );
    // A provider that is not there: the step that failed, in words.
    let p = post(
        &app,
        &format!("{base}/oidc"),
        &cookie,
        &[
            ("issuer", "http://127.0.0.1:9"),
            ("client_id", CLIENT_ID),
            ("_csrf", &token),
        ],
    )
    .await;
    assert!(
        p.body.contains("<span class=\"bad\">Failed</span> (discovery)"),
        "{}",
        p.body
    );
    // Not an issuer at all: refused, the settings stay.
    let p = post(
        &app,
        &format!("{base}/oidc"),
        &cookie,
        &[("issuer", "not a url"), ("client_id", CLIENT_ID), ("_csrf", &token)],
    )
    .await;
    assert!(p.body.contains("role=\"alert\""), "{}", p.body);
    assert_eq!(
        app.get(&format!("/api/v1/connections/{id}")).await.body["oidc"]["issuer"],
        "http://127.0.0.1:9"
    );
}

async fn a_setup_link_does_its_job_and_nothing_more(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_org("acme", None).await;
    let body = json!({"company": "acme", "name": "okta", "protocol": "saml", "organizations": ["acme"],
        "default_organization": "acme", "scim": true});
    let id = app.post_ok("/api/v1/connections", body, 201).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = app
        .post_ok(
            "/api/v1/connections",
            json!({"company": "acme", "name": "entra", "protocol": "saml", "organizations": ["acme"],
                "default_organization": "acme", "scim": true}),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let links = format!("/api/v1/connections/{id}/setup-links");
    assert_eq!(
        app.post(&links, json!({"expires_in_hours": 0})).await.status.as_u16(),
        400
    );
    // Made by the API: 72 hours by default; the URL is shown once, the secret kept hashed.
    let made = app.post_ok(&links, json!({}), 201).await;
    let url = made["url"].as_str().unwrap().to_string();
    let path = url.strip_prefix(&app.url("")).unwrap().to_string();
    assert!(path.starts_with("/setup/setup_"), "{path}");
    let listed = app.get(&links).await.body;
    assert_eq!(listed[0]["live"], true);
    assert!(listed[0].get("url").is_none() && !listed.to_string().contains(&path[7..]));
    let hours = (chrono_ms(listed[0]["expires_at"].as_str().unwrap())
        - chrono_ms(listed[0]["created_at"].as_str().unwrap()))
        / 3_600_000;
    assert_eq!(hours, 72);

    // Fetching the link (as a mail scanner or a chat preview does) uses nothing up: it
    // shows what the link is for, and a button.
    for _ in 0..2 {
        let p = get(&app, &path, "").await;
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(p.body.contains("Set up the connection okta of acme") && p.set_cookie.is_empty());
    }
    assert_eq!(app.get(&links).await.body[0]["opened_at"], serde_json::Value::Null);
    // The first browser to press it claims it, with a cookie of its own.
    let p = post(&app, &path, "", &[]).await;
    assert_eq!((p.status, p.location.as_str()), (303, "/setup"), "{}", p.body);
    let set = p.set_cookie.iter().find(|c| c.starts_with("roster_setup=")).unwrap();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax"), "{set}");
    let cookie = set.split(';').next().unwrap().to_string();
    let page = get(&app, "/setup", &cookie).await;
    assert_eq!(page.status, 200);
    assert!(page.csp.contains("default-src 'none'"));
    assert_eq!(field(&page.body, "v-acs"), app.url(&format!("/sso/saml/{id}/acs")));
    // Reopening it in the same browser works; another browser is refused.
    assert_eq!(get(&app, &path, &cookie).await.location, "/setup");
    for p in [get(&app, &path, "").await, post(&app, &path, "", &[]).await] {
        assert_eq!(p.status, 403, "{}", p.body);
        assert!(p.set_cookie.is_empty());
    }
    let token = csrf(&page.body);

    // Its job: the IdP's metadata, a SCIM token.
    let idp = Idp::rsa(IDP_ENTITY);
    let p = post_multipart(
        &app,
        "/setup/saml",
        &cookie,
        &[
            ("_csrf", &token),
            ("metadata_xml", &idp.metadata("https://idp.example.test/sso")),
        ],
    )
    .await;
    assert!(p.body.contains("metadata is saved"), "{}", p.body);
    assert_eq!(
        app.get(&format!("/api/v1/connections/{id}")).await.body["configured"],
        true
    );
    // Not from a URL: that fetch would go out from the server's network.
    let p = post_multipart(
        &app,
        "/setup/saml",
        &cookie,
        &[("_csrf", &token), ("metadata_url", "https://idp.example.test/metadata")],
    )
    .await;
    assert!(p.body.contains("only the operator"), "{}", p.body);
    assert!(!p.body.contains("name=\"metadata_url\""));
    let p = post(&app, "/setup/scim-tokens", &cookie, &[("_csrf", &token)]).await;
    let secret = field(&p.body, "v-token");
    assert_eq!(scim_status(&app, &secret).await, 200);
    // Nothing more: no switches or links on its page, no console page, no other
    // connection's token.
    assert!(!p.body.contains("/provisioning") && !p.body.contains("setup-links"));
    for path in ["/admin", "/admin/connections", &format!("/admin/connections/{id}")] {
        let p = get(&app, path, &cookie).await;
        assert_eq!(p.status, 303, "{path}");
        assert!(p.location.starts_with("/admin/login"), "{path}");
    }
    let p = post(
        &app,
        &format!("/admin/connections/{id}/provisioning"),
        &cookie,
        &[("_csrf", &token)],
    )
    .await;
    assert_eq!(p.status, 303);
    assert_eq!(app.get(&format!("/api/v1/connections/{id}")).await.body["jit"], true);
    let theirs = app
        .post_ok(&format!("/api/v1/connections/{other}/scim-tokens"), json!({}), 201)
        .await;
    let theirs_id = theirs["id"].as_str().unwrap();
    let p = post(
        &app,
        &format!("/setup/scim-tokens/{theirs_id}/revoke"),
        &cookie,
        &[("_csrf", &token)],
    )
    .await;
    assert_eq!(p.status, 404, "{}", p.body);
    assert_eq!(scim_status(&app, theirs["token"].as_str().unwrap()).await, 200);
    // A form without the link's token is refused.
    assert_eq!(post(&app, "/setup/scim-tokens", &cookie, &[]).await.status, 403);

    // Everything it did is audited as done through the link.
    let link_id = listed[0]["id"].as_str().unwrap();
    let events = app.audit(&format!("connection={id}")).await;
    for action in ["setup_link.open", "connection.update", "scim_token.create"] {
        let e = events
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("{action} in {events:?}"));
        assert_eq!(
            (e["actor"]["kind"].as_str(), e["actor"]["id"].as_str()),
            (Some("setup_link"), Some(link_id)),
            "{e}"
        );
    }

    // Revoked: it stops at once, in the browser that opened it too.
    assert_eq!(app.delete(&format!("{links}/{link_id}")).await.status.as_u16(), 204);
    assert_eq!(get(&app, "/setup", &cookie).await.status, 410);
    assert_eq!(get(&app, &path, &cookie).await.status, 410);
    assert_eq!(app.get(&links).await.body[0]["live"], false);

    // Expired: the same.
    let url = app.post_ok(&links, json!({"expires_in_hours": 1}), 201).await["url"]
        .as_str()
        .unwrap()
        .to_string();
    let path = url.strip_prefix(&app.url("")).unwrap().to_string();
    let p = post(&app, &path, "", &[]).await;
    let cookie = p.set_cookie[0].split(';').next().unwrap().to_string();
    assert_eq!(get(&app, "/setup", &cookie).await.status, 200);
    app.clock.advance_ms(3_600_001);
    assert_eq!(get(&app, "/setup", &cookie).await.status, 410);
    assert_eq!(get(&app, &path, "").await.status, 410);
    assert_eq!(post(&app, &path, "", &[]).await.status, 410);
    // Unknown links are gone too, whatever their length.
    assert_eq!(get(&app, "/setup/setup_nothing", "").await.status, 410);
    assert_eq!(get(&app, &format!("/setup/{}", "x".repeat(300)), "").await.status, 410);
}

/// Milliseconds of an RFC 3339 time the API gave.
fn chrono_ms(t: &str) -> i64 {
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp()
        * 1000
}
