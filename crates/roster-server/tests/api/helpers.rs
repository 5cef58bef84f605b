//! `spawn_app()`: the real server on an ephemeral port, against a fresh SQLite file or a
//! fresh PostgreSQL database, with typed helpers for talking to it over HTTP.

use reqwest::{Method, StatusCode};
use roster_server::config::Config;
use roster_server::state::Clock;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdefghij";
/// The key the test servers seal secrets with (base64 of 32 bytes).
pub const SECRET_KEY: &str = "cm9zdGVyLXRlc3Qtc2VjcmV0LWtleS0wMTIzNDU2Nzg=";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each listed `async fn name(backend: Backend)` as two tests,
/// `<module>::sqlite::name` and `<module>::postgres::name`, so the test output says
/// which backend each run used.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::helpers::Backend::Sqlite).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::helpers::Backend::Postgres).await } )*
        }
    };
}

/// The PostgreSQL server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("ROSTER_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh, empty database of `backend`; dropped again when the guard goes.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    dir: Option<PathBuf>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("roster-test-{id}"));
                Self {
                    url: format!("sqlite://{}/roster.db", dir.display()),
                    pg_name: None,
                    dir: Some(dir),
                }
            }
            Backend::Postgres => {
                use sqlx::Connection;
                let admin = postgres_admin_url();
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL at {admin}: {e}"));
                let name = format!("roster_t_{id}");
                sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("create test database");
                let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin);
                Self {
                    url: format!("{base}/{name}"),
                    pg_name: Some(name),
                    dir: None,
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(name) = self.pg_name.take() {
            // Drop from a thread of its own: Drop cannot await on the test's runtime.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                    return;
                };
                rt.block_on(async move {
                    use sqlx::Connection;
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                        let _ = sqlx::Executor::execute(
                            &mut conn,
                            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                        )
                        .await;
                    }
                });
            })
            .join();
        }
    }
}

/// A clock tests can move.
pub struct TestClock(AtomicI64);

impl TestClock {
    pub fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: Arc<TestClock>,
    /// Base URL of the metrics listener, when asked for.
    pub metrics_base: Option<String>,
    /// The cookies a browser signing in through this server holds (`name=value`): the
    /// SAML login sets them, the ACS reads them.
    pub browser: std::sync::Mutex<Vec<String>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    // Declared last: the database goes after the server.
    pub db: TestDb,
}

pub struct Options {
    pub dns_resolver: Option<SocketAddr>,
    pub max_body_bytes: usize,
    /// Serve Prometheus metrics on a second listener.
    pub metrics: bool,
    /// The abuse limits: sign-in requests and failed authentications per client and
    /// minute, and the proxies trusted for X-Forwarded-For.
    pub sso_requests_per_minute: u32,
    pub sso_requests_per_connection_per_minute: u32,
    pub auth_failures_per_minute: u32,
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Minutes a session may go unused.
    pub session_idle_minutes: u32,
    /// Requests served at once.
    pub max_in_flight: usize,
    /// The first wait after a failed webhook delivery (ms).
    pub webhook_backoff_ms: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            dns_resolver: None,
            max_body_bytes: 1024 * 1024,
            metrics: false,
            sso_requests_per_minute: 600,
            sso_requests_per_connection_per_minute: 6000,
            auth_failures_per_minute: 30,
            trusted_proxies: Vec::new(),
            session_idle_minutes: 30 * 24 * 60,
            max_in_flight: 1024,
            webhook_backoff_ms: 5_000,
        }
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, Options::default()).await
}

pub async fn spawn_app_with(backend: Backend, options: Options) -> TestApp {
    let db = TestDb::new(backend).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let base = format!("http://{addr}");
    let mut config = Config::new(db.url.clone(), base.clone());
    config.admin_token = Some(ADMIN_TOKEN.into());
    config.secret_key = Some(SECRET_KEY.into());
    // Tests on the loopback resolver never touch the network; the default points at a
    // closed port so an accidental lookup fails fast instead of leaving the machine.
    config.dns_resolver = Some(
        options
            .dns_resolver
            .unwrap_or_else(|| "127.0.0.1:9".parse().expect("addr")),
    );
    config.max_body_bytes = options.max_body_bytes;
    config.sso_requests_per_minute = options.sso_requests_per_minute;
    config.sso_requests_per_connection_per_minute = options.sso_requests_per_connection_per_minute;
    config.auth_failures_per_minute = options.auth_failures_per_minute;
    config.trusted_proxies = options.trusted_proxies.clone();
    config.session_idle_minutes = options.session_idle_minutes;
    config.max_in_flight = options.max_in_flight;
    // Webhook receivers in the tests listen on this machine.
    config.webhook_allow_private = true;
    config.webhook_backoff_ms = options.webhook_backoff_ms;
    let clock = Arc::new(TestClock(AtomicI64::new(1_790_000_000_000)));
    let (state, generated) = roster_server::build_state(config, clock.clone())
        .await
        .expect("build state");
    assert!(
        generated.is_none(),
        "a configured admin token must not generate another"
    );
    let (metrics_listener, metrics_base) = if options.metrics {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind metrics");
        let base = format!("http://{}", l.local_addr().expect("addr"));
        (Some(l), Some(base))
    } else {
        (None, None)
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        roster_server::launch(state, listener, metrics_listener, async move {
            let _ = rx.await;
        })
        .await
        .expect("server");
    });
    TestApp {
        browser: Default::default(),
        base,
        metrics_base,
        client: reqwest::Client::new(),
        clock,
        shutdown: Some(tx),
        server: Some(server),
        db,
    }
}

/// An HTTP answer: status, JSON body (Null when empty or not JSON) and headers.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// Asserts the error shape of interfaces.md and returns the error code.
    pub fn error_code(&self) -> String {
        let err = &self.body["error"];
        assert!(
            err["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error without message: {}",
            self.body
        );
        let trace = err["trace_id"].as_str().unwrap_or_default();
        assert!(!trace.is_empty(), "error without trace id: {}", self.body);
        assert_eq!(
            self.headers.get("x-trace-id").and_then(|v| v.to_str().ok()),
            Some(trace),
            "header and body trace ids differ"
        );
        err["code"].as_str().unwrap_or_default().to_string()
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn request(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer { status, body, headers }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.request(Method::GET, path, Some(ADMIN_TOKEN), None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.request(Method::POST, path, Some(ADMIN_TOKEN), Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.request(Method::PATCH, path, Some(ADMIN_TOKEN), Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Answer {
        self.request(Method::DELETE, path, Some(ADMIN_TOKEN), None).await
    }

    /// POSTs and asserts `expected`, returning the body.
    pub async fn post_ok(&self, path: &str, body: Value, expected: u16) -> Value {
        let a = self.post(path, body).await;
        assert_eq!(a.status.as_u16(), expected, "POST {path}: {}", a.body);
        a.body
    }

    pub async fn create_org(&self, name: &str, seat_limit: Option<u32>) -> Value {
        let mut body = json!({ "name": name });
        if let Some(l) = seat_limit {
            body["seat_limit"] = json!(l);
        }
        self.post_ok("/api/v1/organizations", body, 201).await
    }

    pub async fn add_member(&self, org: &str, email: &str, role: &str) -> Value {
        self.post_ok(
            &format!("/api/v1/organizations/{org}/members"),
            json!({ "email": email, "role": role }),
            201,
        )
        .await
    }

    /// Audit events (newest first) matching the query string.
    pub async fn audit(&self, query: &str) -> Vec<Value> {
        let a = self.get(&format!("/api/v1/audit?{query}")).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        a.body["events"].as_array().cloned().unwrap_or_default()
    }

    /// Adds and manually verifies `domain` for `company`.
    pub async fn verified_domain(&self, company: &str, domain: &str) {
        self.post_ok(
            &format!("/api/v1/companies/{company}/domains"),
            json!({ "domain": domain }),
            201,
        )
        .await;
        let a = self
            .post(
                &format!("/api/v1/companies/{company}/domains/{domain}/verify"),
                json!({ "method": "manual" }),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            h.abort();
        }
    }
}
