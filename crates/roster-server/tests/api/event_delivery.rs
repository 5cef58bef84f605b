//! Events and webhooks from the real `roster` binary: killed with SIGKILL in the middle
//! of a stream of SCIM writes, and two nodes writing to one PostgreSQL database. Every
//! acknowledged change has its event in the feed and reaches the webhook endpoint (its
//! signature checked by the Standard Webhooks library), in order.

use crate::durability::Server;
use crate::helpers::{Backend, TestDb, ADMIN_TOKEN};
use crate::webhooks::Receiver;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

crate::on_both_backends!(a_sigkill_mid_scim_stream_loses_no_event_and_no_delivery);

mod two_nodes {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_nodes_on_one_postgresql_give_every_event_once() {
        super::two_nodes_on_one_postgresql_give_every_event_once().await
    }
}

const FLAGS: &[&str] = &["--webhook-allow-private", "--webhook-backoff-ms", "200"];

async fn admin(client: &reqwest::Client, base: &str, path: &str, body: Value) -> Value {
    let resp = client
        .post(format!("{base}/api/v1{path}"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(status < 300, "POST {path}: {status} {body}");
    body
}

/// An organization, its SCIM connection and token, and a webhook for `events` to the
/// receiver (which then checks signatures with its secret).
async fn setup(client: &reqwest::Client, base: &str, receiver: &mut Receiver, events: &[&str]) -> String {
    admin(client, base, "/organizations", json!({"name": "acme"})).await;
    admin(client, base, "/companies/acme/domains", json!({"domain": "acme.test"})).await;
    admin(
        client,
        base,
        "/companies/acme/domains/acme.test/verify",
        json!({"method": "manual"}),
    )
    .await;
    let c = admin(
        client,
        base,
        "/connections",
        json!({"company": "acme", "name": "acme-idp", "protocol": "saml", "domains": ["acme.test"],
               "organizations": ["acme"], "default_organization": "acme", "scim": true}),
    )
    .await;
    let token = admin(
        client,
        base,
        &format!("/connections/{}/scim-tokens", c["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    let hook = admin(
        client,
        base,
        "/webhooks",
        json!({"url": receiver.url, "events": events}),
    )
    .await;
    receiver
        .command(&format!("secret {}", hook["secret"].as_str().unwrap()))
        .await;
    token["token"].as_str().unwrap().to_string()
}

/// Follows the feed from the start until it holds every one of `wanted` (event
/// `data.state.<key>` values of `kind`); answers them in feed order, each event once.
async fn feed_until(
    client: &reqwest::Client,
    base: &str,
    kind: &str,
    key: &str,
    wanted: &HashSet<String>,
) -> Vec<String> {
    let mut seen_ids = HashSet::new();
    let mut order = Vec::new();
    let mut after = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let page: Value = client
            .get(format!("{base}/api/v1/events?types={kind}&limit=1000&after={after}"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for e in page["events"].as_array().unwrap() {
            assert!(
                seen_ids.insert(e["id"].as_str().unwrap().to_string()),
                "an event twice: {e}"
            );
            order.push(e["data"]["state"][key].as_str().unwrap().to_string());
        }
        if let Some(c) = page["next_cursor"].as_str() {
            after = c.to_string();
        }
        if page["has_more"] == true {
            continue;
        }
        if wanted.iter().all(|w| order.contains(w)) {
            return order;
        }
        assert!(
            Instant::now() < deadline,
            "the feed never showed every acknowledged change"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Deliveries until each of `wanted` came (`data.state.<key>`): every one verified;
/// answers the first delivery of each event in arrival order and how often each
/// `webhook-id` came.
async fn deliveries_until(
    receiver: &mut Receiver,
    key: &str,
    wanted: &HashSet<String>,
) -> (Vec<String>, HashMap<String, usize>) {
    let mut first = Vec::new();
    let mut times: HashMap<String, usize> = HashMap::new();
    while !wanted.iter().all(|w| first.contains(w)) {
        let d = receiver.next_within(Duration::from_secs(60)).await;
        assert_eq!(d["verified"], true, "a delivery whose signature did not verify: {d}");
        let n = times.entry(d["id"].as_str().unwrap().to_string()).or_default();
        *n += 1;
        let value = d["body"]["data"]["state"][key].as_str().unwrap().to_string();
        if *n == 1 {
            first.push(value);
        }
    }
    (first, times)
}

/// `delivered` (first deliveries) keeps the feed's order.
fn assert_in_feed_order(feed: &[String], delivered: &[String]) {
    let position: HashMap<&String, usize> = feed.iter().enumerate().map(|(i, v)| (v, i)).collect();
    let positions: Vec<usize> = delivered
        .iter()
        .map(|d| *position.get(d).expect("a delivery the feed does not hold"))
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "deliveries out of the feed's order"
    );
}

async fn a_sigkill_mid_scim_stream_loses_no_event_and_no_delivery(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut receiver = Receiver::start().await;
    let mut server = Server::start_with_args(&db.url, Some(ADMIN_TOKEN), FLAGS).await;
    let client = reqwest::Client::new();
    let token = setup(&client, &server.base, &mut receiver, &["user.created"]).await;

    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (client, base, acked, token) = (client.clone(), server.base.clone(), acked.clone(), token.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..5000 {
                let email = format!("w{w}-{i}@acme.test");
                let sent = client
                    .post(format!("{base}/scim/v2/Users"))
                    .bearer_auth(&token)
                    .json(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                  "userName": email, "active": true}))
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                match sent.map(|r| r.status().as_u16()) {
                    Ok(201) => acked.lock().unwrap().push(email),
                    Ok(other) => panic!("unexpected status {other} for {email}"),
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    let start = Instant::now();
    while acked.lock().unwrap().len() < 150 && start.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.child.start_kill().expect("SIGKILL");
    let _ = server.child.wait().await;
    for w in writers {
        w.await.expect("writer");
    }
    let acked: HashSet<String> = acked.lock().unwrap().iter().cloned().collect();
    eprintln!("{backend:?}: {} SCIM creates acknowledged before SIGKILL", acked.len());
    assert!(acked.len() >= 50, "too few writes before the kill: {}", acked.len());

    // Restarted: every acknowledged change is in the feed, once, and is delivered (the
    // ones in flight at the kill perhaps twice), in the feed's order.
    let server = Server::start_with_args(&db.url, Some(ADMIN_TOKEN), FLAGS).await;
    let feed = feed_until(&client, &server.base, "user.created", "email", &acked).await;
    let (delivered, _) = deliveries_until(&mut receiver, "email", &acked).await;
    assert_in_feed_order(&feed, &delivered);
}

async fn two_nodes_on_one_postgresql_give_every_event_once() {
    let db = TestDb::new(Backend::Postgres).await;
    let mut receiver = Receiver::start().await;
    let a = Server::start_with_args(&db.url, Some(ADMIN_TOKEN), FLAGS).await;
    let b = Server::start_with_args(&db.url, Some(ADMIN_TOKEN), FLAGS).await;
    let client = reqwest::Client::new();
    setup(&client, &a.base, &mut receiver, &["team.created"]).await;

    // Four writers, two on each node, create teams at once; a reader follows the
    // cursor, alternating between the nodes, meanwhile.
    let mut writers = Vec::new();
    for w in 0..4 {
        let base = if w % 2 == 0 { a.base.clone() } else { b.base.clone() };
        let client = client.clone();
        writers.push(tokio::spawn(async move {
            let mut made = Vec::new();
            for i in 0..60 {
                let name = format!("t-{w}-{i}");
                admin(&client, &base, "/organizations/acme/teams", json!({"name": name})).await;
                made.push(name);
            }
            made
        }));
    }
    let bases = [a.base.clone(), b.base.clone()];
    let reader = {
        let client = client.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut ids = HashSet::new();
            let mut after = String::new();
            for round in 0..400 {
                let base = &bases[round % 2];
                let page: Value = client
                    .get(format!("{base}/api/v1/events?types=team.created&limit=7&after={after}"))
                    .bearer_auth(ADMIN_TOKEN)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                for e in page["events"].as_array().unwrap() {
                    assert!(ids.insert(e["id"].as_str().unwrap().to_string()), "an event twice: {e}");
                    seen.push(e["data"]["state"]["name"].as_str().unwrap().to_string());
                }
                if let Some(c) = page["next_cursor"].as_str() {
                    after = c.to_string();
                }
                if seen.len() >= 240 {
                    break;
                }
                if page["has_more"] != true {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            seen
        })
    };
    let mut made = HashSet::new();
    for w in writers {
        made.extend(w.await.expect("writer"));
    }
    let seen = reader.await.expect("reader");
    let seen_set: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), seen_set.len(), "no duplicates");
    assert_eq!(seen_set, made, "every team once, through both nodes");

    // Both nodes send webhooks; each event is delivered once (every attempt succeeds
    // here), in the feed's order.
    let (delivered, times) = deliveries_until(&mut receiver, "name", &made).await;
    assert_in_feed_order(&seen, &delivered);
    // A late duplicate would come after the last first delivery: wait for a moment.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let late = tokio::time::timeout(Duration::from_millis(500), receiver.next()).await;
    assert!(late.is_err(), "a delivery after all were made: {:?}", late.ok());
    assert!(
        times.values().all(|n| *n == 1),
        "a delivery made twice: {:?}",
        times.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
}
