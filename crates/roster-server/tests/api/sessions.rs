//! Browser sessions a SAML sign-in yields (T1), on both backends.

use crate::helpers::{spawn_app, spawn_app_with, Backend, Options};
use crate::saml::{me, new_request, post_acs, post_acs_from, setup, spec, IDP_ENTITY};
use reqwest::header::SET_COOKIE;
use roster_testidp::{Idp, Shape};
use serde_json::json;

crate::on_both_backends!(
    one_session_per_browser_and_none_longer_than_90_days,
    an_unused_session_ends_after_its_idle_timeout,
);

/// T1: a new sign-in in a browser ends the session that browser held, and no session
/// lasts longer than 90 days whatever `dockerSessionMinutes` says.
async fn one_session_per_browser_and_none_longer_than_90_days(backend: Backend) {
    let app = spawn_app(backend).await;
    let idp = Idp::rsa(IDP_ENTITY);
    let conn = setup(&app, &idp, json!({})).await;
    let sign_in = |minutes: &'static str| {
        let app = &app;
        let idp = &idp;
        let conn = conn.clone();
        async move {
            let s = spec(app, &conn, Shape::Okta, "ann@acme.test")
                .attr("dockerSessionMinutes", &[minutes])
                .in_response_to(&new_request(app, &conn).await);
            idp.response(&s)
        }
    };
    let first = post_acs(&app, &conn, &sign_in("600").await, None).await;
    assert_eq!(first.status, 303, "{}", first.body);
    let first_cookie = first.cookie().unwrap();
    assert_eq!(me(&app, &first_cookie).await.0, 200);

    // The same browser signs in again: it brings its session cookie along.
    let xml = sign_in("9999999").await;
    let bindings = app.browser.lock().unwrap().join("; ");
    let second = post_acs_from(&app, &conn, &xml, None, &format!("{bindings}; {first_cookie}")).await;
    assert_eq!(second.status, 303, "{}", second.body);
    let second_cookie = second.cookie().unwrap();
    assert_ne!(second_cookie, first_cookie);
    assert_eq!(me(&app, &first_cookie).await.0, 401, "the browser's old session ended");
    let (status, body) = me(&app, &second_cookie).await;
    assert_eq!(status, 200, "{body}");
    let expires = time::OffsetDateTime::parse(
        body["session"]["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let expires_ms = i64::try_from(expires.unix_timestamp_nanos() / 1_000_000).unwrap();
    assert_eq!(expires_ms - app.clock.now(), 90 * 86_400_000, "capped at 90 days");
    assert!(
        second.headers[SET_COOKIE].to_str().unwrap().contains("Max-Age=7776000"),
        "{:?}",
        second.headers
    );
}

/// A session unused for its idle timeout ends before its absolute end; each use (at
/// most once a minute) starts the idle time again.
async fn an_unused_session_ends_after_its_idle_timeout(backend: Backend) {
    let app = spawn_app_with(
        backend,
        Options {
            session_idle_minutes: 10,
            ..Options::default()
        },
    )
    .await;
    let idp = Idp::rsa(IDP_ENTITY);
    let conn = setup(&app, &idp, json!({})).await;
    let s = spec(&app, &conn, Shape::Okta, "ann@acme.test").in_response_to(&new_request(&app, &conn).await);
    let signed_in = post_acs(&app, &conn, &idp.response(&s), None).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let cookie = signed_in.cookie().unwrap();
    // Used after 8 minutes, then 8 more: never 10 minutes unused.
    app.clock.advance_ms(8 * 60_000);
    assert_eq!(me(&app, &cookie).await.0, 200);
    app.clock.advance_ms(8 * 60_000);
    assert_eq!(me(&app, &cookie).await.0, 200);
    // Then 11 minutes unused: ended, although its 24 hours are not over.
    app.clock.advance_ms(11 * 60_000);
    assert_eq!(me(&app, &cookie).await.0, 401);
}
