//! Browser sessions a SAML sign-in yields (T1), on both backends.

use crate::helpers::{spawn_app, spawn_app_with, Backend, Options, ADMIN_TOKEN, SECRET_KEY};
use crate::saml::{me, new_request, post_acs, post_acs_from, setup, spec, IDP_ENTITY};
use reqwest::header::SET_COOKIE;
use roster_testidp::{Idp, Shape};
use serde_json::json;

crate::on_both_backends!(
    one_session_per_browser_and_none_longer_than_90_days,
    an_unused_session_ends_after_its_idle_timeout,
    sp_keys_are_sealed_at_rest,
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

/// Secrets at rest: the SP private key made on the first login is stored sealed, a key
/// stored before sealing is sealed at the next start, and a start with another key is
/// refused rather than failing sign-ins later.
async fn sp_keys_are_sealed_at_rest(backend: Backend) {
    use roster_store::{saml, Store};
    let app = spawn_app(backend).await;
    let idp = Idp::rsa(IDP_ENTITY);
    let conn = setup(&app, &idp, json!({})).await;
    let s = spec(&app, &conn, Shape::Okta, "ann@acme.test").in_response_to(&new_request(&app, &conn).await);
    assert_eq!(post_acs(&app, &conn, &idp.response(&s), None).await.status, 303);
    let store = Store::connect(&app.db.url, Default::default()).await.unwrap();
    let stored = store
        .read(|db| Box::pin(async move { saml::private_keys(db).await }))
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    let (id, sealed) = stored[0].clone();
    assert!(
        sealed.starts_with("sealed:v1:") && !sealed.contains("PRIVATE KEY"),
        "{sealed}"
    );

    // A key stored in the clear (before sealing existed) is sealed at the next start.
    let pem = roster_server::secrets::Sealer::from_base64(SECRET_KEY)
        .unwrap()
        .open(&sealed)
        .unwrap();
    let (id2, pem2) = (id.clone(), pem.clone());
    store
        .write(move |db| Box::pin(async move { saml::set_private_key(db, &id2, &pem2).await }))
        .await
        .unwrap();
    let restart = |key: &str, previous: Option<&str>| {
        let mut config = roster_server::config::Config::new(app.db.url.clone(), app.base.clone());
        config.admin_token = Some(ADMIN_TOKEN.into());
        config.secret_key = Some(key.into());
        config.previous_secret_key = previous.map(str::to_string);
        roster_server::build_state(config, roster_server::system_clock())
    };
    let (state, _) = restart(SECRET_KEY, None).await.unwrap();
    state.store.close().await;
    let stored = store
        .read(|db| Box::pin(async move { saml::private_keys(db).await }))
        .await
        .unwrap();
    assert!(
        roster_server::secrets::Sealer::is_sealed(&stored[0].1),
        "sealed at start"
    );
    // The sign-in still works with the key that sealed it.
    let s = spec(&app, &conn, Shape::Okta, "bob@acme.test").in_response_to(&new_request(&app, &conn).await);
    assert_eq!(post_acs(&app, &conn, &idp.response(&s), None).await.status, 303);
    // Another key: refused at start, naming the problem.
    let other = roster_server::secrets::Sealer::generate().unwrap();
    let err = restart(&other, None)
        .await
        .err()
        .expect("a start with another key is refused");
    assert!(err.to_string().contains("another secret key"), "{err}");
    // Key rotation: the new key with the previous one re-seals what the previous sealed.
    let (state, _) = restart(&other, Some(SECRET_KEY)).await.unwrap();
    state.store.close().await;
    let stored = store
        .read(|db| Box::pin(async move { saml::private_keys(db).await }))
        .await
        .unwrap();
    let new_key = roster_server::secrets::Sealer::from_base64(&other).unwrap();
    assert!(new_key.sealed_by_me(&stored[0].1), "re-sealed under the new key");
    assert_eq!(new_key.open(&stored[0].1).unwrap(), pem);
    // From then on the new key alone starts, and the old one is refused.
    let (state, _) = restart(&other, None).await.unwrap();
    state.store.close().await;
    assert!(restart(SECRET_KEY, None).await.is_err());
    store.close().await;
}
