//! Two `roster` processes on one PostgreSQL database, driven at once: what one node
//! does, the other sees at once, and racing requests on both end as if they had come
//! one after the other.

use crate::durability::Server;
use crate::helpers::{Backend, TestDb, ADMIN_TOKEN, SECRET_KEY};
use roster_testidp::{Idp, Shape, Spec};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The address both nodes are reached at, behind a load balancer: SAML responses are
/// addressed to it, whichever node receives them.
const PUBLIC: &str = "http://roster.example.test";
const IDP_ENTITY: &str = "https://idp.example.test/app/two-nodes";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_user_name_on_both_nodes_at_once_makes_one_user() {
    let nodes = Nodes::start().await;
    let (_, _, token) = nodes.setup(None).await;
    for i in 0..20 {
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                          "userName": format!("race{i}@acme.test"), "active": true});
        let (a, b) = tokio::join!(
            nodes.scim(0, &token, "POST", "/Users", Some(body.clone())),
            nodes.scim(1, &token, "POST", "/Users", Some(body.clone()))
        );
        let mut statuses = [a.0, b.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "race {i}: {} / {}", a.1, b.1);
        let loser = if a.0 == 409 { &a.1 } else { &b.1 };
        assert_eq!(loser["scimType"], "uniqueness", "{loser}");
        for node in 0..2 {
            let filter = format!("/Users?filter=userName%20eq%20%22race{i}@acme.test%22");
            let (status, found) = nodes.scim(node, &token, "GET", &filter, None).await;
            assert_eq!((status, found["totalResults"].as_i64()), (200, Some(1)), "{found}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_patches_from_both_nodes_add_up_exactly() {
    let nodes = Nodes::start().await;
    let (_, _, token) = nodes.setup(None).await;
    let mut users = Vec::new();
    for i in 0..48 {
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                          "userName": format!("m{i}@acme.test"), "active": true});
        let (status, user) = nodes.scim(i % 2, &token, "POST", "/Users", Some(body)).await;
        assert_eq!(status, 201, "{user}");
        users.push(user["id"].as_str().unwrap().to_string());
    }
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "acme:builders",
                       "members": users[..8].iter().map(|id| json!({"value": id})).collect::<Vec<_>>()});
    let (status, group) = nodes.scim(0, &token, "POST", "/Groups", Some(group)).await;
    assert_eq!(status, 201, "{group}");
    let path = format!("/Groups/{}", group["id"].as_str().unwrap());

    // Four clients, two on each node, at once: each adds its own eight users one at a
    // time, and removes one of the first eight.
    let mut clients = Vec::new();
    for c in 0..4 {
        let (nodes, token, path) = (nodes.bases.clone(), token.clone(), path.clone());
        let mine: Vec<String> = users[8 + c * 8..16 + c * 8].to_vec();
        let gone = users[c].clone();
        clients.push(tokio::spawn(async move {
            let base = &nodes[c % 2];
            for id in &mine {
                let op = json!({"op": "add", "path": "members", "value": [{"value": id}]});
                let (status, body) = patch(base, &token, &path, op).await;
                assert!(status == 204 || status == 200, "{status} {body}");
            }
            let op = json!({"op": "remove", "path": format!("members[value eq \"{gone}\"]")});
            let (status, body) = patch(base, &token, &path, op).await;
            assert!(status == 204 || status == 200, "{status} {body}");
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    let want: BTreeSet<String> = users[4..40].iter().cloned().collect();
    for node in 0..2 {
        let (status, g) = nodes.scim(node, &token, "GET", &path, None).await;
        assert_eq!(status, 200, "{g}");
        let members: Vec<String> = g["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["value"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(members.len(), want.len(), "no member twice");
        assert_eq!(members.into_iter().collect::<BTreeSet<_>>(), want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scim_token_revoked_on_one_node_stops_on_the_other_at_once() {
    let nodes = Nodes::start().await;
    let (connection, token_id, token) = nodes.setup(None).await;
    for round in 0..5 {
        // Node B has just authenticated the token, so it holds it in its cache.
        for _ in 0..3 {
            assert_eq!(nodes.scim(1, &token, "GET", "/Users", None).await.0, 200);
        }
        if round < 4 {
            // A change of the connection clears every node's cache too, and changes
            // nothing here: the token still works.
            let a = nodes
                .admin(0, "PATCH", &format!("/connections/{connection}"), json!({"jit": true}))
                .await;
            assert_eq!(a.0, 200, "{}", a.1);
            assert_eq!(nodes.scim(1, &token, "GET", "/Users", None).await.0, 200);
            continue;
        }
        let revoke = nodes
            .admin(
                0,
                "DELETE",
                &format!("/connections/{connection}/scim-tokens/{token_id}"),
                Value::Null,
            )
            .await;
        assert_eq!(revoke.0, 204, "{}", revoke.1);
        // The very next request on the other node is refused.
        let (status, body) = nodes.scim(1, &token, "GET", "/Users", None).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(nodes.scim(0, &token, "GET", "/Users", None).await.0, 401);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_sessions_and_deactivations_hold_across_nodes() {
    let nodes = Nodes::start().await;
    let idp = Idp::rsa(IDP_ENTITY);
    let (conn, _, token) = nodes.setup(Some(&idp)).await;
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                      "userName": "ann@acme.test", "emails": [{"value": "ann@acme.test", "primary": true}], "active": true});
    let (status, user) = nodes.scim(0, &token, "POST", "/Users", Some(body)).await;
    assert_eq!(status, 201, "{user}");
    let user_path = format!("/Users/{}", user["id"].as_str().unwrap());

    // An IdP-initiated response posted to node A, then the same one to node B.
    let acs = format!("{PUBLIC}/sso/saml/{conn}/acs");
    let spec = Spec::new(
        Shape::Okta,
        &acs,
        &format!("{PUBLIC}/sso/saml/{conn}/metadata"),
        "ann@acme.test",
    );
    let xml = idp.response(&spec);
    let first = post_acs(&nodes.bases[0], &conn, &xml).await;
    assert_eq!(first.0, 303, "{}", first.2);
    let session = first.1.expect("a session cookie");
    let again = post_acs(&nodes.bases[1], &conn, &xml).await;
    assert_eq!(again.0, 400, "a replay on the other node: {}", again.2);
    assert!(again.1.is_none());
    let log = nodes
        .admin(1, "GET", &format!("/connections/{conn}/errors"), Value::Null)
        .await;
    assert_eq!(log.1["errors"][0]["code"], "saml_replay", "{}", log.1);

    // The session works on both nodes; a deactivation on B ends it on A at once.
    for node in 0..2 {
        assert_eq!(me(&nodes.bases[node], &session).await, 200, "node {node}");
    }
    let off = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                     "Operations": [{"op": "replace", "value": {"active": false}}]});
    let (status, body) = nodes.scim(1, &token, "PATCH", &user_path, Some(off)).await;
    assert!(status == 200 || status == 204, "{status} {body}");
    assert_eq!(me(&nodes.bases[0], &session).await, 401);
    let (status, seen) = nodes.scim(0, &token, "GET", &user_path, None).await;
    assert_eq!((status, &seen["active"]), (200, &json!(false)), "{seen}");
}

/// Two nodes on a fresh database, sharing the public address and the secret key.
struct Nodes {
    bases: [String; 2],
    client: reqwest::Client,
    _servers: [Server; 2],
    key: std::path::PathBuf,
    _db: Option<TestDb>,
}

impl Drop for Nodes {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.key);
    }
}

impl Nodes {
    async fn start() -> Self {
        let db = TestDb::new(Backend::Postgres).await;
        let url = db.url.clone();
        Self::on(&url, Some(db)).await
    }

    /// Two nodes on the database at `url` (dropped with them when `db` is given).
    async fn on(url: &str, db: Option<TestDb>) -> Self {
        let key = std::env::temp_dir().join(format!("roster-key-{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&key, SECRET_KEY).unwrap();
        let key_path = key.to_str().unwrap().to_string();
        let args = ["--public-url", PUBLIC, "--secret-key-file", &key_path];
        let a = Server::start_with_args(url, Some(ADMIN_TOKEN), &args).await;
        let b = Server::start_with_args(url, Some(ADMIN_TOKEN), &args).await;
        Self {
            bases: [a.base.clone(), b.base.clone()],
            client: reqwest::Client::new(),
            _servers: [a, b],
            key,
            _db: db,
        }
    }

    async fn admin(&self, node: usize, method: &str, path: &str, body: Value) -> (u16, Value) {
        let mut req = self
            .client
            .request(method.parse().unwrap(), format!("{}/api/v1{path}", self.bases[node]))
            .bearer_auth(ADMIN_TOKEN);
        if !body.is_null() {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
    }

    /// Organization `acme`, domain acme.test, a SAML connection with SCIM (trusting
    /// `idp`, IdP-initiated sign-in allowed) and a SCIM token for it: (connection id,
    /// token id, token).
    async fn setup(&self, idp: Option<&Idp>) -> (String, String, String) {
        let ok = |(status, body): (u16, Value)| {
            assert!(status < 300, "{status} {body}");
            body
        };
        ok(self.admin(0, "POST", "/organizations", json!({"name": "acme"})).await);
        ok(self
            .admin(1, "POST", "/companies/acme/domains", json!({"domain": "acme.test"}))
            .await);
        ok(self
            .admin(
                0,
                "POST",
                "/companies/acme/domains/acme.test/verify",
                json!({"method": "manual"}),
            )
            .await);
        let saml = match idp {
            Some(idp) => json!({"idp_entity_id": idp.entity_id, "idp_sso_url": "https://idp.example.test/sso",
                                "idp_certificates": [idp.certificate_pem]}),
            None => Value::Null,
        };
        let mut body = json!({"company": "acme", "name": "acme-idp", "protocol": "saml", "domains": ["acme.test"],
                              "organizations": ["acme"], "default_organization": "acme", "scim": true,
                              "idp_initiated": true});
        if !saml.is_null() {
            body["saml"] = saml;
        }
        let c = ok(self.admin(1, "POST", "/connections", body).await);
        let id = c["id"].as_str().unwrap().to_string();
        let t = ok(self
            .admin(0, "POST", &format!("/connections/{id}/scim-tokens"), json!({}))
            .await);
        (
            id,
            t["id"].as_str().unwrap().to_string(),
            t["token"].as_str().unwrap().to_string(),
        )
    }

    async fn scim(&self, node: usize, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .client
            .request(method.parse().unwrap(), format!("{}/scim/v2{path}", self.bases[node]))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
    }
}

async fn patch(base: &str, token: &str, path: &str, op: Value) -> (u16, Value) {
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [op]});
    let resp = reqwest::Client::new()
        .patch(format!("{base}/scim/v2{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

/// Posts `xml` to a node's ACS: (status, session cookie, body).
async fn post_acs(base: &str, conn: &str, xml: &str) -> (u16, Option<String>, String) {
    let resp = crate::saml::no_redirects()
        .post(format!("{base}/sso/saml/{conn}/acs"))
        .form(&[("SAMLResponse", roster_testidp::post_field(xml))])
        .send()
        .await
        .unwrap();
    let cookie = resp
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.split(';').next())
        .map(str::to_string);
    (resp.status().as_u16(), cookie, resp.text().await.unwrap_or_default())
}

async fn me(base: &str, cookie: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{base}/api/v1/me"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// PostgreSQL stopped for two seconds and started again while both nodes take writes:
/// meanwhile every request fails with a clean 503 (never a 500), every write that was
/// acknowledged is there afterwards, and both nodes recover without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_restart_under_load_loses_no_acknowledged_write() {
    let pg = PrivateCluster::start();
    let nodes = Nodes::on(&pg.url, None).await;
    let (bases, client) = (nodes.bases.clone(), nodes.client.clone());
    let org = nodes.admin(0, "POST", "/organizations", json!({"name": "acme"})).await;
    assert_eq!(org.0, 201, "{}", org.1);

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (client, base, stop) = (client.clone(), bases[w % 2].clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let (mut acked, mut refused) = (Vec::new(), 0u32);
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let name = format!("t-{w}-{i}");
                i += 1;
                let resp = client
                    .post(format!("{base}/api/v1/organizations/acme/teams"))
                    .bearer_auth(ADMIN_TOKEN)
                    .json(&json!({"name": name}))
                    .send()
                    .await
                    .unwrap();
                match resp.status().as_u16() {
                    201 => acked.push(name),
                    503 => {
                        // Refused before anything was written, or cut off while its
                        // COMMIT was on its way (it may have been made: not acknowledged).
                        let body: Value = resp.json().await.unwrap_or(Value::Null);
                        let code = body["error"]["code"].as_str().unwrap_or_default();
                        assert!(matches!(code, "unavailable" | "outcome_unknown"), "{body}");
                        refused += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                    other => panic!("{name}: {other} {}", resp.text().await.unwrap_or_default()),
                }
            }
            (acked, refused)
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    pg.ctl(&["stop", "-m", "fast"]);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    pg.ctl(&["start"]);
    // Both nodes take writes again, on their own.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    for base in &bases {
        loop {
            let resp = client
                .get(format!("{base}/api/v1/organizations/acme/teams"))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap();
            if resp.status() == 200 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{base} did not recover");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut acked, mut refused) = (Vec::new(), 0);
    for w in writers {
        let (a, r) = w.await.unwrap();
        acked.extend(a);
        refused += r;
    }
    assert!(refused > 0, "the writers saw the database go away");
    assert!(acked.len() > 20, "{} writes acknowledged", acked.len());

    let (status, teams) = nodes.admin(1, "GET", "/organizations/acme/teams", Value::Null).await;
    assert_eq!(status, 200);
    let names: BTreeSet<String> = teams
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    let lost: Vec<&String> = acked.iter().filter(|n| !names.contains(*n)).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    // The nodes stop before their database (declared after it, dropped before it).
}

/// A free port below the range the system hands out for port 0 and for outgoing
/// connections: no other test, and no client socket, takes it while the server that is
/// to listen on it starts, or restarts.
fn unclaimed_port() -> u16 {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let lowest = range
        .split_whitespace()
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(32768);
    let below = lowest.saturating_sub(10_000).max(10_000);
    let start = below + (uuid::Uuid::new_v4().as_u128() % 8_000) as u16;
    (start..lowest)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port below the ephemeral range")
}

/// A PostgreSQL server of the test's own (Debian's `postgresql` binaries), in a
/// temporary folder, so that the test may stop and start it. Run as the `postgres` user
/// when the tests run as root, as PostgreSQL refuses root.
struct PrivateCluster {
    dir: std::path::PathBuf,
    bin: std::path::PathBuf,
    url: String,
}

impl PrivateCluster {
    fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's binaries (Debian's postgresql package)")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|b| b.join("pg_ctl").exists())
            .expect("pg_ctl");
        let dir = std::env::temp_dir().join(format!("roster-pg-{}", uuid::Uuid::new_v4().simple()));
        let port = unclaimed_port();
        let cluster = Self {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            dir,
            bin,
        };
        cluster.run("mkdir", &["-p", cluster.dir.to_str().unwrap()]);
        let initdb = cluster.bin.join("initdb");
        cluster.run(
            initdb.to_str().unwrap(),
            &[
                "-D",
                cluster.dir.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        let settings = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n",
            cluster.dir.display()
        );
        let conf = cluster.dir.join("postgresql.auto.conf");
        let mut file = std::fs::OpenOptions::new().append(true).open(&conf).unwrap();
        std::io::Write::write_all(&mut file, settings.as_bytes()).unwrap();
        cluster.ctl(&["start"]);
        cluster
    }

    /// `pg_ctl` with `args`, waiting for it to finish.
    fn ctl(&self, args: &[&str]) {
        let pg_ctl = self.bin.join("pg_ctl");
        let log = self.dir.join("log");
        let mut all = vec!["-D", self.dir.to_str().unwrap(), "-l", log.to_str().unwrap(), "-w"];
        all.extend_from_slice(args);
        self.run(pg_ctl.to_str().unwrap(), &all);
    }

    fn run(&self, program: &str, args: &[&str]) {
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0"));
        let mut cmd = if root {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--", program]);
            c
        } else {
            std::process::Command::new(program)
        };
        let out = cmd.args(args).current_dir("/").output().expect(program);
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let _ = std::panic::catch_unwind(|| {
            self.run(
                pg_ctl.to_str().unwrap(),
                &["-D", self.dir.to_str().unwrap(), "-m", "immediate", "stop"],
            )
        });
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
