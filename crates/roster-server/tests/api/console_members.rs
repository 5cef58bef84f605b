//! The console's member roles and the audit log by days, over HTTP.

use crate::console::{csrf, get, operator, post};
use crate::helpers::{spawn_app, Backend, TestApp};

crate::on_both_backends!(
    roles_change_from_the_member_row_and_the_last_owner_stays,
    the_audit_log_shows_the_days_asked_for,
);

async fn role(app: &TestApp, email: &str) -> String {
    app.get(&format!("/api/v1/organizations/acme/members/{email}"))
        .await
        .body["role"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn roles_change_from_the_member_row_and_the_last_owner_stays(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_org("acme", None).await;
    let ann = app.add_member("acme", "ann@acme.test", "owner").await["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let bob = app.add_member("acme", "bob@acme.test", "member").await["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let cookie = operator(&app).await;
    let page = get(&app, "/admin/organizations/acme", &cookie).await;
    assert!(
        page.body.contains("aria-label=\"Role of bob@acme.test\""),
        "{}",
        page.body
    );
    let token = csrf(&page.body);
    let change = |user: String, to: &'static str| {
        let (app, cookie, token) = (&app, &cookie, &token);
        async move {
            post(
                app,
                &format!("/admin/organizations/acme/members/{user}"),
                cookie,
                &[("action", "role"), ("role", to), ("_csrf", token)],
            )
            .await
        }
    };
    let p = change(bob.clone(), "editor").await;
    assert_eq!(p.status, 303);
    assert!(p.location.contains("is%20now%20editor"), "{}", p.location);
    assert_eq!(role(&app, "bob@acme.test").await, "editor");
    // The last owner cannot be demoted: the reason comes back as a notice.
    let p = change(ann.clone(), "member").await;
    assert_eq!(p.status, 303);
    let notice = get(&app, &p.location, &cookie).await;
    assert!(notice.body.contains("class=\"notice\""), "{}", notice.body);
    assert_eq!(role(&app, "ann@acme.test").await, "owner");
    let p = change(bob, "emperor").await;
    assert!(p.location.contains("notice="), "{}", p.location);
    assert_eq!(role(&app, "bob@acme.test").await, "editor");
    // Filtered by a rare role or state (read from their partial indexes), alone, together
    // and with an email prefix.
    let shows = |query: &'static str| {
        let (app, cookie) = (&app, &cookie);
        async move {
            let p = get(app, &format!("/admin/organizations/acme?{query}"), cookie).await;
            assert_eq!(p.status, 200, "{query}: {}", p.body);
            ["ann@acme.test", "bob@acme.test"]
                .into_iter()
                .filter(|e| p.body.contains(&format!("<td>{e}</td>")))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(shows("role=owner").await, ["ann@acme.test"]);
    assert_eq!(shows("role=editor").await, ["bob@acme.test"]);
    assert_eq!(shows("state=deactivated").await, Vec::<&str>::new());
    app.patch(
        "/api/v1/organizations/acme/members/bob@acme.test",
        serde_json::json!({"state": "deactivated"}),
    )
    .await;
    assert_eq!(shows("state=deactivated").await, ["bob@acme.test"]);
    assert_eq!(shows("state=deactivated&role=editor").await, ["bob@acme.test"]);
    assert_eq!(shows("state=deactivated&role=owner").await, Vec::<&str>::new());
    assert_eq!(shows("role=owner&email=an").await, ["ann@acme.test"]);
    assert_eq!(shows("role=owner&email=bo").await, Vec::<&str>::new());
    assert_eq!(shows("state=active&role=member").await, Vec::<&str>::new());
    let events = app.audit("organization=acme").await;
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "membership.update" && e["actor"]["kind"] == "admin"),
        "{events:?}"
    );
}

async fn the_audit_log_shows_the_days_asked_for(backend: Backend) {
    let app = spawn_app(backend).await;
    // Three days, a team made on each.
    app.create_org("acme", None).await;
    let day = |ms: i64| {
        let t = time::OffsetDateTime::from_unix_timestamp(ms / 1000).unwrap();
        format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
    };
    let mut days = Vec::new();
    for name in ["first", "second", "third"] {
        days.push(day(app.clock.now()));
        app.post_ok(
            "/api/v1/organizations/acme/teams",
            serde_json::json!({"name": name}),
            201,
        )
        .await;
        app.clock.advance_ms(86_400_000);
    }
    let cookie = operator(&app).await;
    // The days of the team events a page shows.
    let shown = |from: &str, until: &str| {
        let (app, cookie, days) = (&app, &cookie, &days);
        let path = format!("/admin/audit?kind=team.&from={from}&until={until}");
        async move {
            let p = get(app, &path, cookie).await;
            assert_eq!(p.status, 200, "{}", p.body);
            assert_eq!(
                p.body.matches("<td>team.").count(),
                days.iter().filter(|d| p.body.contains(&format!("<td>{d} "))).count(),
                "one team event a day: {}",
                p.body
            );
            (0..3)
                .filter(|i| p.body.contains(&format!("<td>{} ", days[*i])))
                .collect::<Vec<usize>>()
        }
    };
    assert_eq!(shown("", "").await, [0, 1, 2]);
    assert_eq!(shown(&days[1], "").await, [1, 2]);
    assert_eq!(shown("", &days[1]).await, [0, 1]);
    assert_eq!(shown(&days[1], &days[1]).await, [1]);
    assert_eq!(shown("2001-01-01", "2001-01-02").await, Vec::<usize>::new());
    assert_eq!(get(&app, "/admin/audit?from=yesterday", &cookie).await.status, 400);
}
