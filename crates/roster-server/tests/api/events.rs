//! The events feed (`GET /api/v1/events`): directory changes as apps see them, in
//! commit order, followed by a cursor; and a reader following it while writers race
//! sees every event exactly once.

use crate::helpers::{spawn_app, Backend, TestApp};
use serde_json::{json, Value};
use std::collections::HashSet;

crate::on_both_backends!(
    the_feed_follows_directory_changes_in_order,
    a_reader_sees_every_event_once_while_writers_race,
);

pub(crate) async fn page(app: &TestApp, query: &str) -> (Vec<Value>, Option<String>) {
    let a = app.get(&format!("/api/v1/events?{query}")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    (
        a.body["events"].as_array().unwrap().clone(),
        a.body["next_cursor"].as_str().map(str::to_string),
    )
}

/// A page once `ready` holds for it. On PostgreSQL an event shows once every
/// transaction older than its own has ended (other tests' included): moments later.
pub(crate) async fn page_when(
    app: &TestApp,
    query: &str,
    ready: impl Fn(&[Value]) -> bool,
) -> (Vec<Value>, Option<String>) {
    for _ in 0..100 {
        let (events, cursor) = page(app, query).await;
        if ready(&events) {
            return (events, cursor);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("GET /api/v1/events?{query} never showed what was expected");
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

async fn the_feed_follows_directory_changes_in_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let org = app.create_org("acme", None).await;
    app.post_ok("/api/v1/organizations/acme/teams", json!({"name": "eng"}), 201)
        .await;
    let member = app.add_member("acme", "ann@acme.test", "member").await;
    let user = member["user_id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/organizations/acme/members/{user}");
    for body in [
        json!({"state": "deactivated"}),
        json!({"state": "active"}),
        json!({"role": "editor"}),
    ] {
        let a = app.patch(&path, body).await;
        assert_eq!(a.status, 200, "{}", a.body);
    }

    let (events, cursor) = page_when(&app, "", |e| {
        e.last().is_some_and(|l| l["type"] == "membership.role_changed")
    })
    .await;
    let seen = types(&events);
    // Deactivated from their only organization: inactive in the company, with the
    // receipt of what that ended; back with their first membership.
    let expected = [
        "membership.deactivated",
        "user.deactivated",
        "user.deprovisioned",
        "membership.reactivated",
        "user.reactivated",
        "membership.role_changed",
    ];
    assert!(
        seen.contains(&"team.created") && seen.contains(&"membership.added"),
        "{seen:?}"
    );
    assert_eq!(&seen[seen.len() - 6..], expected, "in commit order: {seen:?}");
    let receipt = &events[events.len() - 4];
    assert_eq!(receipt["data"]["state"]["memberships"][0]["state"], "deactivated");
    assert_eq!(receipt["data"]["state"]["sessions_ended"], 0);
    let last = events.last().unwrap();
    assert_eq!(last["organization"], org["id"]);
    assert_eq!(last["cause"]["source"], "admin");
    assert_eq!(last["data"]["state"]["role"], "editor");
    assert_eq!(last["data"]["previous"]["role"], "member");
    assert!(last["time"].as_str().unwrap().ends_with('Z'));

    // Following the cursor: nothing new, the same cursor; then only what is new.
    let cursor = cursor.unwrap();
    let (none, same) = page(&app, &format!("after={cursor}")).await;
    assert!(none.is_empty(), "{none:?}");
    assert_eq!(same.as_deref(), Some(cursor.as_str()));
    assert_eq!(app.delete(&path).await.status, 204);
    let (new, next) = page_when(&app, &format!("after={cursor}"), |e| !e.is_empty()).await;
    assert_eq!(
        types(&new),
        ["membership.removed", "user.deactivated", "user.deprovisioned"],
        "{new:?}"
    );
    assert_eq!(new[2]["data"]["state"]["memberships"][0]["state"], "removed");
    assert!(!new.iter().any(|e| e["type"] == "team.created"));
    assert_ne!(next.as_deref(), Some(cursor.as_str()));

    // Filters and paging.
    let (only, _) = page(&app, "types=membership.deactivated,membership.reactivated").await;
    assert_eq!(types(&only), ["membership.deactivated", "membership.reactivated"]);
    app.create_org("other", None).await;
    app.post_ok("/api/v1/organizations/other/teams", json!({"name": "ops"}), 201)
        .await;
    let (theirs, _) = page_when(&app, "organization=other&types=team.created", |e| !e.is_empty()).await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["data"]["state"]["name"], "ops", "{theirs:?}");
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let (batch, next) = page(&app, &format!("limit=2&after={after}")).await;
        if next.as_deref() == Some(after.as_str()) || next.is_none() {
            break;
        }
        all.extend(batch);
        after = next.unwrap();
    }
    let (whole, _) = page(&app, "limit=1000").await;
    assert_eq!(all, whole, "pages of two add up to the whole feed");

    // Refused: a forged cursor, an unknown type; a cursor past the retention is gone.
    let a = app.get("/api/v1/events?after=bm90LWEtY3Vyc29y").await;
    assert_eq!((a.status.as_u16(), a.error_code()), (400, "invalid_cursor".to_string()));
    let a = app.get("/api/v1/events?types=user.exploded").await;
    assert_eq!((a.status.as_u16(), a.error_code()), (400, "invalid_type".to_string()));
    app.clock.advance_ms(31 * 86_400_000);
    let a = app.get(&format!("/api/v1/events?after={cursor}")).await;
    assert_eq!((a.status.as_u16(), a.error_code()), (410, "cursor_expired".to_string()));
    let (kept, _) = page(&app, "").await;
    assert!(kept.is_empty(), "nothing within the last 30 days: {kept:?}");
}

/// Eight writers create teams at once (on PostgreSQL, eight transactions in parallel,
/// committing in any order) while a reader follows the cursor: it sees each event once.
async fn a_reader_sees_every_event_once_while_writers_race(backend: Backend) {
    let app = std::sync::Arc::new(spawn_app(backend).await);
    app.create_org("acme", None).await;
    let (_, start) = page(&app, "types=team.created").await;
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let app = app.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    app.post_ok(
                        "/api/v1/organizations/acme/teams",
                        json!({"name": format!("t{w}-{i}")}),
                        201,
                    )
                    .await;
                }
            })
        })
        .collect();
    let mut seen = Vec::new();
    let mut after = start.unwrap_or_default();
    // Until the writers are done and everything they wrote has shown (on PostgreSQL
    // moments after the last commit), then a few reads more: nothing more may come.
    let mut settled = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while settled < 5 {
        let done = writers.iter().all(|w| w.is_finished());
        let (batch, next) = page(&app, &format!("types=team.created&limit=7&after={after}")).await;
        seen.extend(
            batch
                .iter()
                .map(|e| e["data"]["state"]["name"].as_str().unwrap().to_string()),
        );
        if let Some(n) = next {
            after = n;
        }
        if done && seen.len() >= 200 && batch.is_empty() {
            settled += 1;
        }
        if batch.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the reader saw {} of 200",
            seen.len()
        );
    }
    for w in writers {
        w.await.unwrap();
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "an event seen twice");
    assert_eq!(seen.len(), 200, "every event once: {} seen", seen.len());
}
