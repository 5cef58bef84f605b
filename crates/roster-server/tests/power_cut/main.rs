//! Power cuts at every write and every sync of a stream of SCIM writes, on SQLite: the
//! whole write path (group commit, the writer's log layer, the checkpoint thread) under
//! a VFS layer that can turn the machine off ([`vfs`]). After each cut the database is
//! reopened as the disk holds it, `PRAGMA integrity_check` passes, and every write the
//! server acknowledged is there with its audit event; a write in flight at the cut is
//! there whole (with its event) or not at all.
//!
//! Each stream runs once per cut point, the n-th write or sync, until a run ends before
//! its n-th event, with everything unsynced lost (a power cut); every fourth cut is also
//! tried with everything written kept (the process killed).

// Test code: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[allow(unsafe_code)]
mod vfs;

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use roster_server::config::Config;
use roster_server::state::AppState;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

const ADMIN_TOKEN: &str = "power-cut-admin-token-0123456789abcdef";
const SECRET_KEY: &str = "cm9zdGVyLXRlc3Qtc2VjcmV0LWtleS0wMTIzNDU2Nzg=";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// Streams run, each in its own shape ([`Shape::of`]).
const STREAMS: u64 = 16;
/// Users each client writes: a create, a title change, every other user deactivated, and
/// each added to the Group.
const USERS_PER_CLIENT: usize = 3;

/// How a stream runs: clients writing at once, writes per group commit, and how soon the
/// checkpoint thread copies the log back and the writer starts it over.
#[derive(Debug, Clone, Copy)]
struct Shape {
    clients: usize,
    batch: usize,
    checkpoint: roster_store::CheckpointPolicy,
}

impl Shape {
    fn of(seed: u64) -> Self {
        let often = roster_store::CheckpointPolicy {
            interval: std::time::Duration::from_millis(1),
            restart_frames: 8,
        };
        Self {
            clients: 1 + (seed % 4) as usize,
            batch: if (seed / 4).is_multiple_of(2) { 256 } else { 1 },
            checkpoint: if (seed / 8).is_multiple_of(2) {
                roster_store::CheckpointPolicy::default()
            } else {
                often
            },
        }
    }
}

struct Server {
    state: AppState,
    router: Router,
}

impl Server {
    async fn start(dir: &Path, shape: Shape) -> Self {
        let mut config = Config::new(format!("sqlite://{}/roster.db", dir.display()), "http://roster.test");
        config.admin_token = Some(ADMIN_TOKEN.into());
        config.secret_key = Some(SECRET_KEY.into());
        config.dns_resolver = Some("127.0.0.1:9".parse().unwrap());
        config.sqlite_batch = shape.batch;
        config.sqlite_checkpoint = shape.checkpoint;
        let (state, _) = roster_server::build_state(config, roster_server::system_clock())
            .await
            .unwrap_or_else(|e| panic!("start on {}: {e}", dir.display()));
        let router = roster_server::router(state.clone());
        Self { state, router }
    }

    /// Closes the store and waits until no file of it is open.
    async fn stop(self) {
        self.state.store.close().await;
        drop(self.router);
        drop(self.state);
        for _ in 0..10_000 {
            if vfs::open_handles() == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        panic!(
            "{} database files still open after the store closed",
            vfs::open_handles()
        );
    }

    async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let scim = path.starts_with("/scim/");
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"));
        if body.is_some() {
            let kind = if scim {
                "application/scim+json"
            } else {
                "application/json"
            };
            req = req.header("content-type", kind);
        }
        let req = req
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn ok(&self, method: &str, path: &str, token: &str, body: Option<Value>, expected: u16) -> Value {
        let (status, body) = self.call(method, path, token, body).await;
        assert_eq!(status, expected, "{method} {path}: {body}");
        body
    }
}

/// The database before any stream: a company with a verified domain, an organization
/// and a SCIM connection. Returns the connection id and its SCIM token.
async fn template(dir: &Path) -> (String, String) {
    let s = Server::start(dir, Shape::of(0)).await;
    let a = ADMIN_TOKEN;
    s.ok("POST", "/api/v1/organizations", a, Some(json!({"name": "acme"})), 201)
        .await;
    s.ok(
        "POST",
        "/api/v1/companies/acme/domains",
        a,
        Some(json!({"domain": "acme.example"})),
        201,
    )
    .await;
    s.ok(
        "POST",
        "/api/v1/companies/acme/domains/acme.example/verify",
        a,
        Some(json!({"method": "manual"})),
        200,
    )
    .await;
    let c = s
        .ok(
            "POST",
            "/api/v1/connections",
            a,
            Some(
                json!({"company": "acme", "name": "acme-idp", "protocol": "saml", "domains": ["acme.example"],
                        "organizations": ["acme"], "default_organization": "acme", "scim": true}),
            ),
            201,
        )
        .await;
    let id = c["id"].as_str().unwrap().to_string();
    let t = s
        .ok(
            "POST",
            &format!("/api/v1/connections/{id}/scim-tokens"),
            a,
            Some(json!({})),
            201,
        )
        .await;
    s.stop().await;
    (id, t["token"].as_str().unwrap().to_string())
}

/// A User as the stream left it, as far as the server said.
#[derive(Debug, Clone, PartialEq)]
struct UserState {
    user_name: String,
    active: bool,
    title: String,
}

/// What the server acknowledged, and the one write each User may have in flight.
#[derive(Default)]
struct Ledger {
    /// Users by id: the acknowledged state and their acknowledged updates.
    users: BTreeMap<String, (UserState, usize)>,
    /// A write in flight at the cut: the state it would have left (for a create, the
    /// user name only, as the id never came back).
    pending: BTreeMap<String, UserState>,
    pending_creates: BTreeSet<String>,
    group: Option<String>,
    members: BTreeSet<String>,
    pending_members: BTreeSet<String>,
}

/// A write answered otherwise than acknowledged: only a dead machine may do that.
fn failed(status: u16, body: &Value, what: &str) {
    assert!(vfs::is_off(), "{what} failed with the power on: {status} {body}");
}

/// One client's writes; it stops at its first failure (the power is off).
async fn client(s: Arc<Server>, token: String, ledger: Arc<Mutex<Ledger>>, c: usize) {
    for i in 0..USERS_PER_CLIENT {
        let user_name = format!("u{c}-{i}@acme.example");
        let mut state = UserState {
            user_name: user_name.clone(),
            active: true,
            title: "t0".into(),
        };
        let body = json!({"schemas": [USER], "userName": user_name, "active": true, "title": "t0",
                          "name": {"givenName": "U", "familyName": format!("{c}-{i}")},
                          "emails": [{"value": user_name, "type": "work", "primary": true}]});
        let (status, reply) = s.call("POST", "/scim/v2/Users", &token, Some(body)).await;
        if status != 201 {
            failed(status, &reply, "a create");
            ledger.lock().unwrap().pending_creates.insert(user_name);
            return;
        }
        let id = reply["id"].as_str().unwrap().to_string();
        ledger.lock().unwrap().users.insert(id.clone(), (state.clone(), 0));
        let mut updates = vec![(json!({"op": "replace", "path": "title", "value": "t1"}), "t1", true)];
        if i % 2 == 1 {
            updates.push((json!({"op": "replace", "value": {"active": false}}), "t1", false));
        }
        for (op, title, active) in updates {
            let next = UserState {
                title: title.into(),
                active,
                ..state.clone()
            };
            let body = json!({"schemas": [PATCH_OP], "Operations": [op]});
            let (status, reply) = s
                .call("PATCH", &format!("/scim/v2/Users/{id}"), &token, Some(body))
                .await;
            if status != 200 && status != 204 {
                failed(status, &reply, "a User PATCH");
                ledger.lock().unwrap().pending.insert(id, next);
                return;
            }
            state = next;
            let mut l = ledger.lock().unwrap();
            let entry = l.users.get_mut(&id).unwrap();
            *entry = (state.clone(), entry.1 + 1);
        }
        let Some(group) = ledger.lock().unwrap().group.clone() else {
            continue;
        };
        let body =
            json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]});
        let (status, reply) = s
            .call("PATCH", &format!("/scim/v2/Groups/{group}"), &token, Some(body))
            .await;
        let mut l = ledger.lock().unwrap();
        if status != 200 && status != 204 {
            failed(status, &reply, "a member PATCH");
            l.pending_members.insert(id);
            return;
        }
        l.members.insert(id);
    }
}

/// The stream: a Group created, then `clients` clients writing at once.
async fn stream(s: Arc<Server>, token: &str, clients: usize) -> Ledger {
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let body = json!({"schemas": [GROUP], "displayName": "acme:engineering"});
    let (status, reply) = s.call("POST", "/scim/v2/Groups", token, Some(body)).await;
    if status != 201 {
        failed(status, &reply, "the Group create");
    } else {
        ledger.lock().unwrap().group = Some(reply["id"].as_str().unwrap().to_string());
        let tasks: Vec<_> = (0..clients)
            .map(|c| tokio::spawn(client(s.clone(), token.to_string(), ledger.clone(), c)))
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    }
    let mut guard = ledger.lock().unwrap();
    std::mem::take(&mut *guard)
}

/// Every page of the audit log of `connection`.
async fn audit(s: &Server, connection: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = s
            .ok(
                "GET",
                &format!("/api/v1/audit?connection={connection}&limit=1000{cursor}"),
                ADMIN_TOKEN,
                None,
                200,
            )
            .await;
        events.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return events,
        }
    }
}

/// The database as the disk left it, checked against what the server acknowledged.
async fn verify(s: &Server, connection: &str, token: &str, ledger: &Ledger, at: &str) {
    let check = s
        .state
        .store
        .read(|c| {
            Box::pin(async move {
                roster_store::db::query_scalar::<String>("PRAGMA integrity_check")
                    .fetch_one(c)
                    .await
            })
        })
        .await
        .unwrap();
    assert_eq!(check, "ok", "{at}: integrity_check");

    let list = s.ok("GET", "/scim/v2/Users?count=1000", token, None, 200).await;
    let found: BTreeMap<String, UserState> = list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let state = UserState {
                user_name: u["userName"].as_str().unwrap().into(),
                active: u["active"].as_bool().unwrap(),
                title: u["title"].as_str().unwrap_or_default().into(),
            };
            (u["id"].as_str().unwrap().to_string(), state)
        })
        .collect();
    let events = audit(s, connection).await;
    let count = |id: &str, action: &str| {
        events
            .iter()
            .filter(|e| e["object"]["id"] == id && e["action"] == action)
            .count()
    };

    for (id, (acked, updates)) in &ledger.users {
        let Some(now) = found.get(id) else {
            panic!("{at}: acknowledged User {} lost", acked.user_name);
        };
        let in_flight = ledger.pending.get(id);
        assert!(
            now == acked || Some(now) == in_flight,
            "{at}: {} is {now:?}, acknowledged {acked:?}",
            acked.user_name
        );
        assert_eq!(
            count(id, "scim_user.create"),
            1,
            "{at}: the create event of {}",
            acked.user_name
        );
        let expected = updates + usize::from(Some(now) == in_flight && now != acked);
        assert_eq!(
            count(id, "scim_user.update"),
            expected,
            "{at}: the update events of {}",
            acked.user_name
        );
    }
    for (id, now) in &found {
        if ledger.users.contains_key(id) {
            continue;
        }
        // A create in flight at the cut may have committed: then whole, with its event.
        assert!(
            ledger.pending_creates.contains(&now.user_name),
            "{at}: {} exists but was never written",
            now.user_name
        );
        assert_eq!(
            count(id, "scim_user.create"),
            1,
            "{at}: the create event of {}",
            now.user_name
        );
    }
    for e in events.iter().filter(|e| e["object"]["kind"] == "scim_user") {
        let id = e["object"]["id"].as_str().unwrap();
        assert!(
            found.contains_key(id),
            "{at}: an event of a User that is not there: {e}"
        );
    }

    if let Some(group) = &ledger.group {
        let (status, g) = s.call("GET", &format!("/scim/v2/Groups/{group}"), token, None).await;
        assert_eq!(status, 200, "{at}: the acknowledged Group is lost: {g}");
        let members: BTreeSet<String> = g["members"]
            .as_array()
            .map(|m| m.iter().map(|m| m["value"].as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        assert!(
            ledger.members.is_subset(&members),
            "{at}: acknowledged members lost: {:?} of {:?}",
            ledger.members,
            members
        );
        let possible: BTreeSet<String> = ledger.members.union(&ledger.pending_members).cloned().collect();
        assert!(members.is_subset(&possible), "{at}: members never added: {members:?}");
    }

    // And the database takes writes again.
    let body = json!({"schemas": [USER], "userName": "after@acme.example", "active": true});
    s.ok("POST", "/scim/v2/Users", token, Some(body), 201).await;
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if !name.to_string_lossy().ends_with("-shm") {
            std::fs::copy(entry.path(), to.join(name)).unwrap();
        }
    }
}

/// One run of stream `seed` with the power cut at event `cut`, losing what was not synced
/// and, at every fourth cut, again keeping what was written (the process killed, a
/// weaker fault). Returns the events the stream made when it ran to its end before the
/// cut.
async fn run(base: &Path, from: &Path, connection: &str, token: &str, seed: u64, cut: u64) -> Option<u64> {
    let shape = Shape::of(seed);
    let mut ended = None;
    let ways: &[bool] = if cut.is_multiple_of(4) { &[true, false] } else { &[true] };
    for &lose_unsynced in ways {
        let dir: PathBuf = base.join(format!("s{seed}-c{cut}-{lose_unsynced}"));
        copy_dir(from, &dir);
        vfs::all_synced();
        let s = Arc::new(Server::start(&dir, shape).await);
        vfs::arm(cut);
        let ledger = stream(s.clone(), token, shape.clients).await;
        let (events, cut_happened) = vfs::disarm();
        Arc::into_inner(s).unwrap().stop().await;
        vfs::restore(lose_unsynced, &dir.join("roster.db-shm")).unwrap();
        let s = Server::start(&dir, shape).await;
        let at = format!(
            "stream {seed} ({shape:?}), {} at event {cut}",
            if lose_unsynced { "power cut" } else { "crash" }
        );
        verify(&s, connection, token, &ledger, &at).await;
        s.stop().await;
        std::fs::remove_dir_all(&dir).unwrap();
        if !cut_happened {
            ended = Some(events);
            break; // nothing was cut: the other way is the same run
        }
    }
    ended
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_survives_a_power_cut_at_any_write_or_sync() {
    vfs::install();
    let base = std::env::temp_dir().join(format!("roster-power-cut-{}", uuid::Uuid::new_v4().simple()));
    let from = base.join("template");
    let (connection, token) = template(&from).await;
    let (mut cuts, mut runs) = (0u64, 0u64);
    for seed in 0..STREAMS {
        let mut cut = 1;
        loop {
            if let Some(events) = run(&base, &from, &connection, &token, seed, cut).await {
                assert!(events > 10, "stream {seed} made only {events} writes and syncs");
                break;
            }
            cuts += 1;
            runs += if cut.is_multiple_of(4) { 2 } else { 1 };
            cut += 1;
        }
    }
    std::fs::remove_dir_all(&base).unwrap();
    println!("power cut at {cuts} points of {STREAMS} streams ({runs} runs)");
    assert!(cuts > 0);
}
