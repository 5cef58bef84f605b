//! Webhooks: every delivery's signature checked by the Standard Webhooks library
//! (`tests/fixtures/webhook_receiver.py`, Python `standardwebhooks`), events in order
//! per endpoint, an endpoint that is down catching up once it is back, without delaying
//! another endpoint meanwhile.

use crate::helpers::{spawn_app_with, Backend, Options, TestApp};
use serde_json::{json, Value};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

crate::on_both_backends!(
    deliveries_are_signed_in_order_and_wait_for_an_endpoint_that_is_down,
    secrets_rotate_with_an_overlap_deliveries_are_sent_again_and_a_dead_endpoint_is_turned_off,
);

pub(crate) struct Receiver {
    pub(crate) url: String,
    /// Deliveries read while waiting for a command's answer, for `next`.
    early: std::collections::VecDeque<Value>,
    stdin: ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    _child: Child,
}

impl Receiver {
    pub(crate) async fn start() -> Self {
        let python = roster_testidp::python();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/webhook_receiver.py");
        let mut child = Command::new(python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("python with standardwebhooks: run scripts/deps.sh");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut r = Self {
            url: String::new(),
            early: Default::default(),
            stdin,
            lines,
            _child: child,
        };
        r.url = r.line().await["url"].as_str().unwrap().to_string();
        r
    }

    /// The next delivery.
    pub(crate) async fn next(&mut self) -> Value {
        match self.early.pop_front() {
            Some(d) => d,
            None => self.line().await,
        }
    }

    /// The next delivery, waiting up to `wait` (a node that died leaves its endpoints
    /// leased for 30 s).
    pub(crate) async fn next_within(&mut self, wait: std::time::Duration) -> Value {
        match self.early.pop_front() {
            Some(d) => d,
            None => self.line_within(wait).await,
        }
    }

    async fn line(&mut self) -> Value {
        self.line_within(std::time::Duration::from_secs(20)).await
    }

    async fn line_within(&mut self, wait: std::time::Duration) -> Value {
        let line = tokio::time::timeout(wait, self.lines.next_line())
            .await
            .expect("the receiver answers in time")
            .unwrap()
            .expect("the receiver exited");
        serde_json::from_str(&line).unwrap()
    }

    /// Sends a command and waits for its answer (deliveries meanwhile are kept).
    pub(crate) async fn command(&mut self, c: &str) {
        self.stdin.write_all(format!("{c}\n").as_bytes()).await.unwrap();
        loop {
            let line = self.line().await;
            if line.get("id").is_some() {
                self.early.push_back(line);
            } else {
                return;
            }
        }
    }

    /// The next `n` deliveries it took (answered 2xx), each verified.
    async fn taken(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::new();
        while out.len() < n {
            let d = self.next().await;
            assert_eq!(d["verified"], true, "a delivery whose signature did not verify: {d}");
            if d["answered"] == 204 {
                out.push(d["body"].clone());
            }
        }
        out
    }
}

/// `GET path` (200) once `ready` holds for its body.
async fn until(app: &TestApp, path: &str, ready: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let a = app.get(path).await;
        assert_eq!(a.status, 200, "{}", a.body);
        if ready(&a.body) {
            return a.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "GET {path} never showed what was expected: {}",
        app.get(path).await.body
    );
}

async fn register(app: &TestApp, r: &mut Receiver, body: Value) -> String {
    let mut body = body;
    body["url"] = json!(r.url);
    let created = app.post_ok("/api/v1/webhooks", body, 201).await;
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{created}");
    r.command(&format!("secret {secret}")).await;
    created["id"].as_str().unwrap().to_string()
}

/// An app with short retry waits, its clock at the real time: the library refuses
/// timestamps more than five minutes from it.
pub(crate) async fn app_on_real_time(backend: Backend) -> TestApp {
    let app = spawn_app_with(
        backend,
        Options {
            webhook_backoff_ms: 100,
            ..Options::default()
        },
    )
    .await;
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    app.clock.advance_ms(real - app.clock.now());
    app
}

async fn deliveries_are_signed_in_order_and_wait_for_an_endpoint_that_is_down(backend: Backend) {
    let app = app_on_real_time(backend).await;
    let mut all = Receiver::start().await;
    let mut teams = Receiver::start().await;
    let all_id = register(&app, &mut all, json!({})).await;
    let teams_id = register(&app, &mut teams, json!({"events": ["team.created"]})).await;
    // Never shown again.
    let got = app.get(&format!("/api/v1/webhooks/{all_id}")).await;
    assert!(got.body.get("secret").is_none(), "{}", got.body);

    all.command("down").await;
    app.create_org("acme", None).await;
    for i in 0..5 {
        app.post_ok(
            "/api/v1/organizations/acme/teams",
            json!({"name": format!("t{i}")}),
            201,
        )
        .await;
    }
    // The other endpoint is not held up by the one that is down.
    let names: Vec<Value> = teams
        .taken(5)
        .await
        .iter()
        .map(|e| e["data"]["state"]["name"].clone())
        .collect();
    assert_eq!(names, ["t0", "t1", "t2", "t3", "t4"].map(Value::from).to_vec());

    // The endpoint that is down is retried on the first event; the log says so.
    let first = all.next().await;
    assert_eq!(
        (first["answered"].as_i64(), first["verified"].as_bool()),
        (Some(503), Some(true)),
        "{first}"
    );
    // (Recorded once the attempt is over.)
    let log = until(&app, &format!("/api/v1/webhooks/{all_id}/deliveries"), |b| {
        b[0]["status"] == 503
    })
    .await;
    assert!(log[0]["error"].as_str().is_some());

    // Back up: everything, in order, each once the endpoint takes it (the next attempt
    // is due once the test's clock has moved past the backoff).
    all.command("up").await;
    app.clock.advance_ms(1_000);
    let mut got = Vec::new();
    while got.len() < 5 {
        let d = all.next().await;
        assert_eq!(d["verified"], true, "{d}");
        if d["answered"] == 204 && d["body"]["type"] == "team.created" {
            got.push(d["body"]["data"]["state"]["name"].clone());
        }
    }
    assert_eq!(got, ["t0", "t1", "t2", "t3", "t4"].map(Value::from).to_vec());
    // What a batch came to is recorded once it is delivered.
    until(&app, &format!("/api/v1/webhooks/{all_id}"), |b| {
        b["failed_attempts"] == 0
    })
    .await;
    // Caught up, with other changes in the log since (sign-ins and the like move the
    // position too): no endpoint is due, so an idle sender writes nothing.
    app.post_ok("/api/v1/organizations", json!({"name": "quiet"}), 201)
        .await;
    let store = roster_store::Store::connect(&app.db.url, Default::default())
        .await
        .unwrap();
    let mut idle = false;
    for _ in 0..100 {
        let now = app.clock.now();
        let due = store
            .read(move |db| Box::pin(async move { roster_store::webhooks::any_due(db, now).await }))
            .await
            .unwrap();
        if !due {
            idle = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    store.close().await;
    assert!(idle, "an endpoint stayed due with nothing to deliver");

    // New filters: from then on, acme's new members only (not its teams, nor another
    // organization's members).
    let a = app
        .patch(
            &format!("/api/v1/webhooks/{teams_id}"),
            json!({"events": ["membership.added"], "organizations": ["acme"]}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["events"], json!(["membership.added"]));
    for (path, body) in [
        ("/api/v1/webhooks/{id}", json!({"events": ["user.exploded"]})),
        ("/api/v1/webhooks/{id}", json!({"url": "ftp://hooks.example.com/x"})),
    ] {
        let a = app.patch(&path.replace("{id}", &teams_id), body).await;
        assert_eq!(a.status, 400, "{}", a.body);
    }
    app.post_ok("/api/v1/organizations/acme/teams", json!({"name": "later"}), 201)
        .await;
    app.add_member("quiet", "q@quiet.test", "owner").await;
    app.add_member("acme", "ann@acme.test", "member").await;
    let next = teams.taken(1).await;
    assert_eq!(next[0]["type"], "membership.added", "{next:?}");
    assert_eq!(next[0]["data"]["state"]["email"], "ann@acme.test", "{next:?}");

    // Refused: a private target is allowed here only because the tests allow it; an
    // unknown event type never.
    let a = app
        .post(
            "/api/v1/webhooks",
            json!({"url": "https://hooks.example.com/x", "events": ["user.exploded"]}),
        )
        .await;
    assert_eq!((a.status.as_u16(), a.error_code()), (400, "invalid_type".to_string()));
    assert_eq!(app.delete(&format!("/api/v1/webhooks/{all_id}")).await.status, 204);
}

async fn secrets_rotate_with_an_overlap_deliveries_are_sent_again_and_a_dead_endpoint_is_turned_off(backend: Backend) {
    let app = app_on_real_time(backend).await;
    let mut r = Receiver::start().await;
    let id = register(&app, &mut r, json!({"events": ["team.created"]})).await;
    app.create_org("acme", None).await;
    app.post_ok("/api/v1/organizations/acme/teams", json!({"name": "before"}), 201)
        .await;
    assert_eq!(r.taken(1).await[0]["data"]["state"]["name"], "before");

    // Rotation: the receiver still holds the old secret, and verifies (both sign);
    // then it takes the new one, and verifies too.
    let rotated = app
        .post_ok(&format!("/api/v1/webhooks/{id}/secret"), json!({}), 200)
        .await;
    let new_secret = rotated["secret"].as_str().unwrap().to_string();
    assert!(rotated["previous_secret_until"].as_str().is_some(), "{rotated}");
    app.post_ok("/api/v1/organizations/acme/teams", json!({"name": "during"}), 201)
        .await;
    assert_eq!(r.taken(1).await[0]["data"]["state"]["name"], "during");
    r.command(&format!("secret {new_secret}")).await;
    app.post_ok("/api/v1/organizations/acme/teams", json!({"name": "after"}), 201)
        .await;
    let after = r.taken(1).await;
    assert_eq!(after[0]["data"]["state"]["name"], "after");

    // An admin sends a delivery's event again: the same event, logged as attempt 0.
    // (The receiver may print before the sender has logged the attempt.)
    let mut last = Value::Null;
    for _ in 0..100 {
        let log = app.get(&format!("/api/v1/webhooks/{id}/deliveries")).await;
        if let Some(d) = log
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["event_id"] == after[0]["id"])
        {
            last = d.clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(last.is_object(), "the delivery of 'after' is not in the log");
    let again = app
        .post_ok(
            &format!(
                "/api/v1/webhooks/{id}/deliveries/{}/retry",
                last["id"].as_str().unwrap()
            ),
            json!({}),
            200,
        )
        .await;
    assert_eq!(
        (again["attempt"].as_i64(), again["status"].as_i64()),
        (Some(0), Some(204)),
        "{again}"
    );
    let resent = r.next().await;
    assert_eq!(
        (resent["verified"].as_bool(), &resent["id"]),
        (Some(true), &after[0]["id"]),
        "{resent}"
    );

    // Down for longer than the limit (72 hours): the endpoint is turned off, and the
    // feed says so; turned on again, it goes on from where it stopped.
    r.command("down").await;
    app.post_ok("/api/v1/organizations/acme/teams", json!({"name": "lost?"}), 201)
        .await;
    let first = r.next().await;
    assert_eq!(first["answered"], 503);
    app.clock.advance_ms(73 * 3_600_000);
    let mut off = false;
    for _ in 0..100 {
        // Time goes on, so that the retries fall due.
        app.clock.advance_ms(1_000);
        if app.get(&format!("/api/v1/webhooks/{id}")).await.body["enabled"] == false {
            off = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        off,
        "the endpoint was not turned off: {} {}",
        app.get(&format!("/api/v1/webhooks/{id}")).await.body,
        app.get(&format!("/api/v1/webhooks/{id}/deliveries")).await.body
    );
    // (On PostgreSQL an event shows once older transactions, other tests' too, end.)
    let mut disabled = Vec::new();
    for _ in 0..100 {
        disabled = app.get("/api/v1/events?types=webhook.disabled").await.body["events"]
            .as_array()
            .unwrap()
            .clone();
        if !disabled.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(disabled.len(), 1, "{disabled:?}");
    // Back to the real time (the library refuses timestamps five minutes off), once
    // the attempts made meanwhile (signed 73 hours ahead, answered 503) are over.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    app.clock.advance_ms(real - app.clock.now());
    r.command("up").await;
    r.early.retain(|d| d["answered"] != 503);
    let on = app
        .patch(&format!("/api/v1/webhooks/{id}"), json!({"enabled": true}))
        .await;
    assert_eq!(on.status, 200, "{}", on.body);
    let mut names = Vec::new();
    while names.is_empty() {
        let d = r.next().await;
        if d["answered"] == 503 {
            continue;
        }
        assert_eq!(d["verified"], true, "{d}");
        if d["answered"] == 204 {
            names.push(d["body"]["data"]["state"]["name"].clone());
        }
    }
    assert_eq!(names, [json!("lost?")], "nothing lost while it was off");
}
