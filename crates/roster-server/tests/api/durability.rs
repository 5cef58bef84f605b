//! The real `roster` binary, killed and restarted: a 2xx means the write is on disk.

use crate::helpers::{Backend, TestDb, ADMIN_TOKEN};
use serde_json::{json, Value};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

crate::on_both_backends!(
    sigkill_loses_no_acknowledged_write,
    sigterm_drains_and_exits_zero,
    generated_admin_token_is_printed_once,
    migrate_applies_and_exits,
    admin_tokens_are_long_and_may_come_from_a_file,
    nodes_starting_together_mint_one_admin_token,
);

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Server {
    pub(crate) async fn start(db_url: &str) -> Self {
        Self::start_with(db_url, Some(ADMIN_TOKEN)).await
    }

    async fn start_with(db_url: &str, admin_token: Option<&str>) -> Self {
        Self::start_with_args(db_url, admin_token, &[]).await
    }

    /// The binary with `extra` arguments after the usual ones.
    pub(crate) async fn start_with_args(db_url: &str, admin_token: Option<&str>, extra: &[&str]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_roster"));
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            db_url,
            "--log-format",
            "json",
        ])
        .args(extra)
        .env_remove("ROSTER_ADMIN_TOKEN");
        if let Some(t) = admin_token {
            cmd.env("ROSTER_ADMIN_TOKEN", t);
        }
        let mut child = cmd
            .env("ROSTER_LOG", "warn,roster=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start roster");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        let base = loop {
            assert!(Instant::now() < deadline, "roster did not start");
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .expect("start timeout")
                .expect("read")
                .expect("roster exited");
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if v["message"] == "roster serving" {
                break format!("http://{}", v["listen"].as_str().expect("listen"));
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, base }
    }
}

async fn create_team(client: &reqwest::Client, base: &str, name: &str) -> Result<u16, reqwest::Error> {
    let resp = client
        .post(format!("{base}/api/v1/organizations/acme/teams"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "name": name }))
        .timeout(Duration::from_secs(10))
        .send()
        .await?;
    Ok(resp.status().as_u16())
}

async fn sigkill_loses_no_acknowledged_write(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut server = Server::start(&db.url).await;
    let client = reqwest::Client::new();
    let a = client
        .post(format!("{}/api/v1/organizations", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "name": "acme" }))
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 201);

    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (client, base, acked) = (client.clone(), server.base.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..5000 {
                let name = format!("t-{w}-{i}");
                match create_team(&client, &base, &name).await {
                    Ok(201) => acked.lock().unwrap().push(name),
                    Ok(other) => panic!("unexpected status {other} for {name}"),
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    let start = Instant::now();
    while acked.lock().unwrap().len() < 300 && start.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.child.start_kill().expect("SIGKILL");
    let _ = server.child.wait().await;
    for w in writers {
        w.await.expect("writer");
    }
    let acked = acked.lock().unwrap().clone();
    eprintln!("{backend:?}: {} writes acknowledged before SIGKILL", acked.len());
    assert!(
        acked.len() >= 100,
        "too few writes acknowledged before the kill: {}",
        acked.len()
    );

    let server = Server::start(&db.url).await;
    let teams = client
        .get(format!("{}/api/v1/organizations/acme/teams", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let teams: Vec<String> = teams
        .json::<Value>()
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    let missing: Vec<&String> = acked.iter().filter(|a| !teams.contains(a)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged writes lost after SIGKILL: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );

    // Consistent: every team has exactly its audit event, committed with it.
    let mut created = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{}/api/v1/audit?organization=acme&limit=1000", server.base);
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = client
            .get(url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        created += page["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "team.create")
            .count();
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(created, teams.len(), "audit events and teams disagree");
    if backend == Backend::Sqlite {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(check, "ok");
    }
}

async fn sigterm_drains_and_exits_zero(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut server = Server::start(&db.url).await;
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let pid = server.child.id().expect("pid").to_string();
    // Once the server answers, SIGTERM must already be caught: a handler installed
    // later leaves a window in which SIGTERM kills the process undrained.
    #[cfg(target_os = "linux")]
    {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .map(|mask| u64::from_str_radix(mask.trim(), 16).expect("SigCgt mask"))
            .expect("SigCgt line");
        assert_ne!(
            caught & (1 << (15 - 1)),
            0,
            "SIGTERM is not caught once the server is ready"
        );
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(20), server.child.wait())
        .await
        .expect("exit in time")
        .expect("wait");
    assert_eq!(exit.code(), Some(0));
}

async fn read_stdout(child: &mut Child) -> String {
    use tokio::io::AsyncReadExt;
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = tokio::time::timeout(Duration::from_secs(5), stdout.read_to_string(&mut out)).await;
    }
    out
}

async fn generated_admin_token_is_printed_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut server = Server::start_with(&db.url, None).await;
    let client = reqwest::Client::new();
    let base = server.base.clone();
    std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().unwrap().to_string()])
        .status()
        .unwrap();
    let out = read_stdout(&mut server.child).await;
    server.child.wait().await.unwrap();
    let token = out
        .split_whitespace()
        .find(|w| w.starts_with("roster_admin_"))
        .unwrap_or_else(|| panic!("no token printed: {out}"))
        .to_string();
    assert!(
        client.get(format!("{base}/healthz")).send().await.is_err(),
        "the first server is gone"
    );

    let mut server = Server::start_with(&db.url, None).await;
    let a = client
        .get(format!("{}/api/v1/organizations", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 200, "the printed token works after a restart");
    std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().unwrap().to_string()])
        .status()
        .unwrap();
    let out = read_stdout(&mut server.child).await;
    assert!(
        !out.contains("roster_admin_"),
        "a token is printed only on the first start: {out}"
    );
}

/// The number a `SELECT COUNT(*) …` query gives.
async fn count(store: &roster_store::Store, sql: &'static str) -> Result<i64, roster_store::StoreError> {
    store
        .read(move |c| Box::pin(async move { roster_store::db::query_scalar::<i64>(sql).fetch_one(c).await }))
        .await
}

async fn migrate_applies_and_exits(backend: Backend) {
    let db = TestDb::new(backend).await;
    let out = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["migrate", "--database", &db.url])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let store = roster_store::Store::connect(&db.url, Default::default()).await.unwrap();
    let tables = count(&store, "SELECT COUNT(*) FROM organizations").await.unwrap();
    assert_eq!(tables, 0);
    store.close().await;
    let again = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["migrate", "--database", &db.url])
        .output()
        .await
        .unwrap();
    assert!(again.status.success(), "migrations are idempotent");
}

/// An operator's admin token is at least 32 characters (refused at start otherwise), and
/// may be given in a file (`ROSTER_ADMIN_TOKEN_FILE`), as every secret setting: the
/// database URL, which may hold a password, too (`ROSTER_DATABASE_URL_FILE`).
async fn admin_tokens_are_long_and_may_come_from_a_file(backend: Backend) {
    let db = TestDb::new(backend).await;
    let out = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &db.url])
        .env("ROSTER_ADMIN_TOKEN", "short-token")
        .env_remove("ROSTER_ADMIN_TOKEN_FILE")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at least 32 characters"), "{err}");

    let dir = std::env::temp_dir().join(format!("roster-token-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("admin-token");
    std::fs::write(&file, format!("{ADMIN_TOKEN}\n")).unwrap();
    let url_file = dir.join("database-url");
    std::fs::write(&url_file, format!("{}\n", db.url)).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roster"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .env_remove("ROSTER_ADMIN_TOKEN")
        .env_remove("ROSTER_DATABASE_URL")
        .env("ROSTER_DATABASE_URL_FILE", &url_file)
        .env("ROSTER_ADMIN_TOKEN_FILE", &file)
        .env("ROSTER_LOG", "warn,roster=info")
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("start timeout")
            .expect("read")
            .expect("roster exited");
        if let Ok(v) = serde_json::from_str::<Value>(&line) {
            if v["message"] == "roster serving" {
                break format!("http://{}", v["listen"].as_str().unwrap());
            }
        }
    };
    let status = reqwest::Client::new()
        .get(format!("{base}/api/v1/organizations"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200, "the token from the file is the admin token");
    child.kill().await.unwrap();
    // The server used the database the file named.
    let store = roster_store::Store::connect(&db.url, Default::default()).await.unwrap();
    let organizations = count(&store, "SELECT COUNT(*) FROM organizations")
        .await
        .expect("the database the file named is migrated");
    assert_eq!(organizations, 0);
    store.close().await;
    // Both ways at once is refused, naming the conflict.
    let both = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("ROSTER_DATABASE_URL", &db.url)
        .env("ROSTER_DATABASE_URL_FILE", &url_file)
        .env("ROSTER_ADMIN_TOKEN_FILE", &file)
        .env_remove("ROSTER_ADMIN_TOKEN")
        .output()
        .await
        .unwrap();
    assert!(!both.status.success());
    let err = String::from_utf8_lossy(&both.stderr);
    assert!(err.contains("ROSTER_DATABASE_URL_FILE, not both"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Nodes starting at once on one fresh database mint one bootstrap admin token, not one
/// each (only one can print it, and an unprinted token would be a live secret no one has).
/// The first node's transaction is held open after its bootstrap, so that the second's
/// runs while the first's token is not yet committed.
async fn nodes_starting_together_mint_one_admin_token(backend: Backend) {
    let db = TestDb::new(backend).await;
    let connect = || roster_store::Store::connect(&db.url, Default::default());
    let (first, second) = (connect().await.unwrap(), connect().await.unwrap());
    first.migrate().await.unwrap();
    let bootstrap = |store: roster_store::Store, hold: Duration| async move {
        store
            .write(move |c| {
                Box::pin(async move {
                    let ctx = roster_store::Ctx::new("system", None, "bootstrap", 1_000);
                    let minted = roster_store::tokens::bootstrap_admin(c, &ctx, None).await?;
                    tokio::time::sleep(hold).await;
                    Ok(minted)
                })
            })
            .await
            .unwrap()
    };
    let (a, b) = tokio::join!(bootstrap(first.clone(), Duration::from_millis(500)), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        bootstrap(second.clone(), Duration::ZERO).await
    });
    assert_eq!(
        usize::from(a.is_some()) + usize::from(b.is_some()),
        1,
        "one node mints and prints the token"
    );
    let active = count(&first, "SELECT COUNT(*) FROM admin_tokens WHERE revoked_at IS NULL")
        .await
        .unwrap();
    assert_eq!(active, 1, "one token exists");
    first.close().await;
    second.close().await;
}
