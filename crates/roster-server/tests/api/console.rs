//! The admin console over HTTP: signing in (the operator with the admin token, an owner
//! through their company's SSO), what each may see, enforced by the server, CSRF and
//! the security headers.

use crate::helpers::{spawn_app, spawn_app_with, Backend, Options, TestApp, ADMIN_TOKEN};
use crate::oauth2::sign_in_with_groups;
use crate::saml::{no_redirects, setup};
use reqwest::header::{CONTENT_SECURITY_POLICY, LOCATION, SET_COOKIE};
use roster_testidp::Idp;
use serde_json::json;

crate::on_both_backends!(
    the_operator_signs_in_with_the_admin_token_and_manages_members,
    an_owner_sees_only_their_company_whatever_the_url,
);

pub(crate) struct Page {
    pub status: u16,
    pub location: String,
    pub body: String,
    pub set_cookie: Vec<String>,
    pub csp: String,
}

pub(crate) async fn send(req: reqwest::RequestBuilder) -> Page {
    let resp = req.send().await.unwrap();
    let header = |h| {
        resp.headers()
            .get(h)
            .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let (location, csp) = (header(LOCATION), header(CONTENT_SECURITY_POLICY));
    let set_cookie = resp
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    Page {
        status: resp.status().as_u16(),
        location,
        set_cookie,
        csp,
        body: resp.text().await.unwrap(),
    }
}

pub(crate) async fn get(app: &TestApp, path: &str, cookie: &str) -> Page {
    send(no_redirects().get(app.url(path)).header("cookie", cookie)).await
}

pub(crate) async fn post(app: &TestApp, path: &str, cookie: &str, form: &[(&str, &str)]) -> Page {
    send(
        no_redirects()
            .post(app.url(path))
            .header("cookie", cookie)
            .header("sec-fetch-site", "same-origin")
            .form(form),
    )
    .await
}

/// The console cookie (`name=value`) a sign-in set.
pub(crate) fn console_cookie(p: &Page) -> String {
    let c = p
        .set_cookie
        .iter()
        .find(|c| c.starts_with("roster_console="))
        .unwrap_or_else(|| panic!("no console cookie: {:?}", p.set_cookie));
    c.split(';').next().unwrap().to_string()
}

/// A console session of the operator (the cookie, `name=value`).
pub(crate) async fn operator(app: &TestApp) -> String {
    let p = post(app, "/admin/login", "", &[("token", ADMIN_TOKEN), ("next", "/admin")]).await;
    assert_eq!(p.status, 303, "{}", p.body);
    console_cookie(&p)
}

/// The value of the read-only field `id` on a page.
pub(crate) fn field(body: &str, id: &str) -> String {
    let pattern = format!("id=\"{id}\" value=\"");
    let at = body.find(&pattern).unwrap_or_else(|| panic!("no field {id}: {body}")) + pattern.len();
    body[at..].split('"').next().unwrap().to_string()
}

/// The CSRF token a page's forms carry.
pub(crate) fn csrf(body: &str) -> String {
    let at = body
        .find("name=\"_csrf\" value=\"")
        .expect("a form with the CSRF token")
        + 20;
    body[at..].split('"').next().unwrap().to_string()
}

async fn member_state(app: &TestApp, org: &str, email: &str) -> (u16, String) {
    let a = app.get(&format!("/api/v1/organizations/{org}/members/{email}")).await;
    (
        a.status.as_u16(),
        a.body["state"].as_str().unwrap_or_default().to_string(),
    )
}

async fn the_operator_signs_in_with_the_admin_token_and_manages_members(backend: Backend) {
    let records = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let dns = crate::companies_domains::dns_server(records.clone()).await;
    let app = spawn_app_with(
        backend,
        Options {
            dns_resolver: Some(dns),
            ..Options::default()
        },
    )
    .await;
    app.create_org("acme", None).await;
    app.add_member("acme", "ann@acme.test", "owner").await;
    app.add_member("acme", "bob@acme.test", "member").await;

    // Not signed in: to the sign-in page, and back afterwards.
    let p = get(&app, "/admin/organizations/acme", "").await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/admin/login?next=%2Fadmin%2Forganizations%2Facme")
    );
    let login = get(&app, "/admin/login", "").await;
    assert_eq!(login.status, 200);
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(login.csp.contains(part), "{}", login.csp);
    }
    assert!(
        !login.body.contains("<script>") && !login.body.contains("style="),
        "no inline script or style"
    );
    assert!(login.body.contains("type=\"password\""));

    // A wrong token: refused, no session. The right one: a console session in a
    // cookie of its own (HttpOnly, SameSite=Strict) that is not the token.
    let p = post(
        &app,
        "/admin/login",
        "",
        &[("token", "not-the-token"), ("next", "/admin")],
    )
    .await;
    assert_eq!(p.status, 401);
    assert!(p.set_cookie.is_empty());
    let p = post(
        &app,
        "/admin/login",
        "",
        &[("token", ADMIN_TOKEN), ("next", "/admin/organizations/acme")],
    )
    .await;
    assert_eq!((p.status, p.location.as_str()), (303, "/admin/organizations/acme"));
    let set = &p.set_cookie[0];
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
    assert!(!set.contains(ADMIN_TOKEN));
    let cookie = console_cookie(&p);
    // Only console pages are places to come back to.
    let p = post(
        &app,
        "/admin/login",
        "",
        &[("token", ADMIN_TOKEN), ("next", "https://evil.example/")],
    )
    .await;
    assert_eq!(p.location, "/admin");

    // The overview and the organization's members.
    let p = get(&app, "/admin", &cookie).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("acme"), "{}", p.body);
    let p = get(&app, "/admin/organizations/acme", &cookie).await;
    assert!(p.body.contains("ann@acme.test") && p.body.contains("bob@acme.test"));
    let p = get(&app, "/admin/organizations/acme?role=owner", &cookie).await;
    assert!(p.body.contains("ann@acme.test") && !p.body.contains("bob@acme.test"));
    let p = get(&app, "/admin/organizations/acme?email=BO", &cookie).await;
    assert!(!p.body.contains("ann@acme.test") && p.body.contains("bob@acme.test"));
    let token = csrf(&p.body);
    let bob = app.get("/api/v1/users/bob@acme.test").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let action = format!("/admin/organizations/acme/members/{bob}");

    // CSRF: without the token, with another, or from another site: refused, no change.
    for (form, site) in [
        (vec![("action", "deactivate")], "same-origin"),
        (vec![("action", "deactivate"), ("_csrf", "forged")], "same-origin"),
        (vec![("action", "deactivate"), ("_csrf", token.as_str())], "cross-site"),
    ] {
        let p = send(
            no_redirects()
                .post(app.url(&action))
                .header("cookie", &cookie)
                .header("sec-fetch-site", site)
                .form(&form),
        )
        .await;
        assert_eq!(p.status, 403, "{form:?} {site}");
    }
    assert_eq!(member_state(&app, "acme", "bob@acme.test").await.1, "active");

    let p = post(&app, &action, &cookie, &[("action", "deactivate"), ("_csrf", &token)]).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert!(p.location.contains("notice="), "{}", p.location);
    // Why: the change that set each part of the access, from the audit trail.
    let p = get(&app, &format!("{action}/why"), &cookie).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.body.contains("State deactivated") && p.body.contains("membership.update"),
        "{}",
        p.body
    );
    assert_eq!(member_state(&app, "acme", "bob@acme.test").await.1, "deactivated");
    let p = get(&app, "/admin/organizations/acme?state=deactivated", &cookie).await;
    assert!(p.body.contains("bob@acme.test") && !p.body.contains("ann@acme.test"));

    // Removing is destructive: minutes after the token was entered, it is asked again.
    app.clock.advance_ms(6 * 60_000);
    let p = post(&app, &action, &cookie, &[("action", "remove"), ("_csrf", &token)]).await;
    assert_eq!(p.location, "/admin/reauth?next=%2Fadmin%2Forganizations%2Facme");
    assert_eq!(
        member_state(&app, "acme", "bob@acme.test").await.0,
        200,
        "not removed yet"
    );
    let p = post(
        &app,
        "/admin/reauth",
        &cookie,
        &[
            ("token", "wrong"),
            ("next", "/admin/organizations/acme"),
            ("_csrf", &token),
        ],
    )
    .await;
    assert_eq!(p.status, 401);
    let p = post(
        &app,
        "/admin/reauth",
        &cookie,
        &[
            ("token", ADMIN_TOKEN),
            ("next", "/admin/organizations/acme"),
            ("_csrf", &token),
        ],
    )
    .await;
    assert_eq!(p.status, 303);
    let p = post(&app, &action, &cookie, &[("action", "remove"), ("_csrf", &token)]).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(member_state(&app, "acme", "bob@acme.test").await.0, 404);

    // Making things: an organization, a team, an invitation (and revoking it).
    let p = post(
        &app,
        "/admin/organizations",
        &cookie,
        &[("name", "beta"), ("seat_limit", "5"), ("_csrf", &token)],
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let beta = p.location.clone();
    assert!(beta.starts_with("/admin/organizations/"), "{beta}");
    assert_eq!(app.get("/api/v1/organizations/beta").await.body["seat_limit"], 5);
    let p = post(
        &app,
        "/admin/organizations",
        &cookie,
        &[("name", "beta"), ("_csrf", &token)],
    )
    .await;
    assert!(
        p.location.contains("notice=") && p.location.contains("already%20exists"),
        "{}",
        p.location
    );
    let p = post(
        &app,
        &format!("{beta}/teams"),
        &cookie,
        &[("name", "eng"), ("_csrf", &token)],
    )
    .await;
    assert_eq!(p.status, 303);
    let p = post(
        &app,
        &format!("{beta}/invitations"),
        &cookie,
        &[
            ("email", "cy@beta.test"),
            ("role", "editor"),
            ("team", "eng"),
            ("_csrf", &token),
        ],
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let page = get(&app, &beta, &cookie).await;
    assert!(
        page.body.contains("eng") && page.body.contains("cy@beta.test"),
        "{}",
        page.body
    );
    let invitations = app.get("/api/v1/organizations/beta/invitations").await.body;
    assert_eq!(invitations[0]["role"], "editor", "{invitations}");
    let id = invitations[0]["id"].as_str().unwrap();
    let p = post(
        &app,
        &format!("{beta}/invitations/{id}/revoke"),
        &cookie,
        &[("_csrf", &token)],
    )
    .await;
    assert_eq!(p.status, 303);
    assert_eq!(app.get("/api/v1/organizations/beta/invitations").await.body, json!([]));

    // Domains: added, its TXT record shown; "verify now" finds it once published.
    let p = post(
        &app,
        "/admin/domains",
        &cookie,
        &[("domain", "beta.test"), ("company", "beta"), ("_csrf", &token)],
    )
    .await;
    assert!(p.location.contains("added"), "{}", p.location);
    let page = get(&app, "/admin/domains", &cookie).await;
    let at = page.body.find("roster-verification=").expect("the TXT record is shown");
    let txt = page.body[at..].split('<').next().unwrap().to_string();
    let company = app.get("/api/v1/companies/beta").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let verify = format!("/admin/domains/{company}/beta.test/verify");
    let p = post(&app, &verify, &cookie, &[("method", "dns"), ("_csrf", &token)]).await;
    assert!(p.location.contains("no%20TXT%20record"), "{}", p.location);
    records.lock().unwrap().insert("beta.test".to_string(), vec![txt]);
    let p = post(&app, &verify, &cookie, &[("method", "dns"), ("_csrf", &token)]).await;
    assert!(p.location.contains("is%20verified"), "{}", p.location);
    let d = app.get("/api/v1/companies/beta/domains/beta.test").await.body;
    assert_eq!(
        (d["verified"].as_bool(), d["verified_method"].as_str()),
        (Some(true), Some("dns")),
        "{d}"
    );

    // The audit log says who did it: the admin, through the console.
    let p = get(&app, "/admin/audit?kind=membership.remove", &cookie).await;
    assert_eq!(p.status, 200);
    assert!(
        p.body.contains("membership.remove") && !p.body.contains("membership.add"),
        "{}",
        p.body
    );

    // Signing out ends the session; so does revoking the admin token it stands on.
    let p = post(&app, "/admin/logout", &cookie, &[("_csrf", &token)]).await;
    assert_eq!(p.status, 303);
    assert_eq!(get(&app, "/admin", &cookie).await.status, 303);
    let made = app
        .post_ok("/api/v1/admin-tokens", json!({"name": "second"}), 201)
        .await;
    let second = made["token"].as_str().unwrap();
    let p = post(&app, "/admin/login", "", &[("token", second), ("next", "/admin")]).await;
    let cookie = console_cookie(&p);
    assert_eq!(get(&app, "/admin", &cookie).await.status, 200);
    let id = made["id"].as_str().unwrap();
    assert_eq!(app.delete(&format!("/api/v1/admin-tokens/{id}")).await.status, 204);
    assert_eq!(
        get(&app, "/admin", &cookie).await.status,
        303,
        "the token is gone, so is its session"
    );
}

async fn an_owner_sees_only_their_company_whatever_the_url(backend: Backend) {
    let app = spawn_app(backend).await;
    let idp = Idp::rsa(crate::saml::IDP_ENTITY);
    let conn = setup(&app, &idp, json!({})).await;
    app.add_member("acme", "ann@acme.test", "owner").await;
    app.create_org("other", None).await;
    app.add_member("other", "olga@other.test", "owner").await;

    // Through the company's SSO, back to the console.
    let p = get(&app, "/admin/sso?email=ann@acme.test", "").await;
    assert_eq!(p.status, 303);
    let start = get(&app, &p.location, "").await;
    assert_eq!(start.status, 302, "{}", start.body);
    assert!(
        start.location.contains("return_to=%2Fadmin%2Fsso%2Fdone"),
        "{}",
        start.location
    );
    let (back, session) = sign_in_with_groups(&app, &idp, &conn, &start.location, "ann@acme.test", &[]).await;
    assert_eq!(back, "/admin/sso/done");
    let p = get(&app, &back, &session).await;
    assert_eq!((p.status, p.location.as_str()), (303, "/admin"), "{}", p.body);
    let cookie = console_cookie(&p);

    // Their company only: the other company's pages and actions are not found.
    let p = get(&app, "/admin", &cookie).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("acme") && !p.body.contains("other"), "{}", p.body);
    assert!(p.body.contains("ann@acme.test"), "the navigation names the owner");
    let token = csrf(&p.body);
    let p = get(&app, "/admin/organizations/other", &cookie).await;
    assert_eq!(p.status, 404);
    assert!(!p.body.contains("olga"));
    let other_org = app.get("/api/v1/organizations/other").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        get(&app, &format!("/admin/organizations/{other_org}"), &cookie)
            .await
            .status,
        404
    );
    let olga = app.get("/api/v1/users/olga@other.test").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p = post(
        &app,
        &format!("/admin/organizations/other/members/{olga}"),
        &cookie,
        &[("action", "deactivate"), ("_csrf", &token)],
    )
    .await;
    assert_eq!(p.status, 404);
    assert_eq!(member_state(&app, "other", "olga@other.test").await.1, "active");
    let p = get(&app, &format!("/admin/organizations/other/members/{olga}/why"), &cookie).await;
    assert_eq!(p.status, 404);
    assert!(!p.body.contains("olga"));
    let p = post(
        &app,
        "/admin/organizations/other/invitations",
        &cookie,
        &[("email", "x@other.test"), ("_csrf", &token)],
    )
    .await;
    assert_eq!(p.status, 404);
    let p = post(
        &app,
        "/admin/organizations",
        &cookie,
        &[("name", "mine"), ("_csrf", &token)],
    )
    .await;
    assert_eq!(p.status, 403, "only the operator makes organizations");
    assert_eq!(app.get("/api/v1/organizations/mine").await.status, 404);
    // Domains: their company's only, and no verification without DNS.
    app.post_ok("/api/v1/companies/other/domains", json!({"domain": "other.test"}), 201)
        .await;
    let p = get(&app, "/admin/domains", &cookie).await;
    assert!(
        p.body.contains("acme.test") && !p.body.contains("other.test"),
        "{}",
        p.body
    );
    let other_company = app.get("/api/v1/companies/other").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p = post(
        &app,
        &format!("/admin/domains/{other_company}/other.test/verify"),
        &cookie,
        &[("method", "dns"), ("_csrf", &token)],
    )
    .await;
    assert_eq!(p.status, 404);
    app.post_ok(
        "/api/v1/companies/acme/domains",
        json!({"domain": "sub.acme.test"}),
        201,
    )
    .await;
    let acme_company = app.get("/api/v1/companies/acme").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p = post(
        &app,
        &format!("/admin/domains/{acme_company}/sub.acme.test/verify"),
        &cookie,
        &[("method", "manual"), ("_csrf", &token)],
    )
    .await;
    assert_eq!(p.status, 403);
    let p = get(&app, "/admin/audit?organization=other", &cookie).await;
    assert!(!p.body.contains("olga") && !p.body.contains(&other_org), "{}", p.body);
    let p = get(&app, "/admin/audit", &cookie).await;
    assert!(!p.body.contains(&other_org), "{}", p.body);

    // The mapping playground of their connection (not of another company's).
    let p = get(&app, &format!("/admin/connections/{conn}/playground"), &cookie).await;
    assert_eq!(p.status, 200, "{}", p.body);
    let input = r#"{"attributes": {"email": ["zed@acme.test"], "groups": ["acme:eng"]}}"#;
    let play = format!("/admin/connections/{conn}/playground");
    let p = post(&app, &play, &cookie, &[("input", input), ("_csrf", &token)]).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.body.contains("would be allowed") && p.body.contains("add_membership"),
        "{}",
        p.body
    );
    assert_eq!(
        app.get("/api/v1/users/zed@acme.test").await.status,
        404,
        "nothing changed"
    );
    let p = post(&app, &play, &cookie, &[("input", "{not json"), ("_csrf", &token)]).await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("not what an IdP sends"));
    let theirs = app
        .post_ok(
            "/api/v1/connections",
            json!({"company": "other", "name": "theirs", "protocol": "saml", "organizations": ["other"],
                   "default_organization": "other",
                   "saml": {"idp_entity_id": "https://idp.other.test", "idp_sso_url": "https://idp.other.test/sso",
                            "idp_certificates": [idp.certificate_pem]}}),
            201,
        )
        .await;
    let theirs = theirs["id"].as_str().unwrap();
    assert_eq!(
        get(&app, &format!("/admin/connections/{theirs}/playground"), &cookie)
            .await
            .status,
        404
    );
    let p = post(
        &app,
        &format!("/admin/connections/{theirs}/playground"),
        &cookie,
        &[("input", input), ("_csrf", &token)],
    )
    .await;
    assert_eq!(p.status, 404);

    // Their own company's members they can manage.
    app.add_member("acme", "bob@acme.test", "member").await;
    let bob = app.get("/api/v1/users/bob@acme.test").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p = post(
        &app,
        &format!("/admin/organizations/acme/members/{bob}"),
        &cookie,
        &[("action", "deactivate"), ("_csrf", &token)],
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(member_state(&app, "acme", "bob@acme.test").await.1, "deactivated");
    let owner_events = app.audit("organization=acme").await;
    assert_eq!(owner_events[0]["actor"]["kind"], "owner", "{:?}", owner_events[0]);

    // A member who owns nothing gets no console.
    let (back, session) = sign_in_with_groups(
        &app,
        &idp,
        &conn,
        &format!("/sso/saml/{conn}/login?return_to=%2Fadmin%2Fsso%2Fdone"),
        "cy@acme.test",
        &[],
    )
    .await;
    assert_eq!(get(&app, &back, &session).await.status, 403);

    // No longer an owner: the console session ends at once.
    let a = app
        .patch(
            "/api/v1/organizations/acme/members/ann@acme.test",
            json!({"role": "member"}),
        )
        .await;
    assert_eq!(a.status, 409, "the last owner stays: {}", a.body);
    app.add_member("acme", "dee@acme.test", "owner").await;
    let a = app
        .patch(
            "/api/v1/organizations/acme/members/ann@acme.test",
            json!({"role": "member"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(get(&app, "/admin", &cookie).await.status, 303);
}
