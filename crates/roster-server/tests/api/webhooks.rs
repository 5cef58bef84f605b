//! Webhooks: every delivery's signature checked by the Standard Webhooks library
//! (`tests/fixtures/webhook_receiver.py`, Python `standardwebhooks`), events in order
//! per endpoint, an endpoint that is down catching up once it is back, without delaying
//! another endpoint meanwhile.

use crate::helpers::{spawn_app_with, Backend, Options, TestApp};
use serde_json::{json, Value};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

crate::on_both_backends!(deliveries_are_signed_in_order_and_wait_for_an_endpoint_that_is_down);

struct Receiver {
    url: String,
    stdin: ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    _child: Child,
}

impl Receiver {
    async fn start() -> Self {
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
            stdin,
            lines,
            _child: child,
        };
        r.url = r.next().await["url"].as_str().unwrap().to_string();
        r
    }

    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(std::time::Duration::from_secs(20), self.lines.next_line())
            .await
            .expect("the receiver answers in time")
            .unwrap()
            .expect("the receiver exited");
        serde_json::from_str(&line).unwrap()
    }

    async fn command(&mut self, c: &str) {
        self.stdin.write_all(format!("{c}\n").as_bytes()).await.unwrap();
        self.next().await;
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

async fn register(app: &TestApp, r: &mut Receiver, body: Value) -> String {
    let mut body = body;
    body["url"] = json!(r.url);
    let created = app.post_ok("/api/v1/webhooks", body, 201).await;
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{created}");
    r.command(&format!("secret {secret}")).await;
    created["id"].as_str().unwrap().to_string()
}

async fn deliveries_are_signed_in_order_and_wait_for_an_endpoint_that_is_down(backend: Backend) {
    let app = spawn_app_with(
        backend,
        Options {
            webhook_backoff_ms: 100,
            ..Options::default()
        },
    )
    .await;
    // The library refuses timestamps more than five minutes from the real time.
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    app.clock.advance_ms(real - app.clock.now());
    let mut all = Receiver::start().await;
    let mut teams = Receiver::start().await;
    let all_id = register(&app, &mut all, json!({})).await;
    register(&app, &mut teams, json!({"events": ["team.created"]})).await;
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
    let log = app.get(&format!("/api/v1/webhooks/{all_id}/deliveries")).await;
    assert_eq!(log.status, 200);
    assert_eq!(log.body[0]["status"], 503, "{}", log.body);
    assert!(log.body[0]["error"].as_str().is_some());

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
    let hook = app.get(&format!("/api/v1/webhooks/{all_id}")).await;
    assert_eq!(hook.body["failed_attempts"], 0, "{}", hook.body);
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
