//! The `roster` binary: `roster serve` and `roster migrate` (interfaces.md "Process").

use clap::{Parser, Subcommand, ValueEnum};
use roster_server::config::Config;
use std::net::SocketAddr;
use std::process::ExitCode;

/// Request handling allocates many small, short-lived buffers across threads (HTTP,
/// JSON, database rows); mimalloc serves them with less contention and fragmentation
/// than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "roster",
    version,
    about = "SSO user provisioning: SAML, OIDC, SCIM 2.0, group mapping"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable on a terminal, JSON otherwise.
    Auto,
    Human,
    Json,
}

#[derive(clap::Args)]
struct DbArgs {
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB. From the environment:
    /// ROSTER_DATABASE_URL, or the file ROSTER_DATABASE_URL_FILE names (it may hold a
    /// password). Default: sqlite://./roster-data/roster.db.
    #[arg(long = "database")]
    database: Option<String>,
    /// Log format.
    #[arg(long, env = "ROSTER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    log_format: LogFormat,
}

// Parsed once at start: the size of the serve variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Apply migrations and serve.
    Serve {
        #[command(flatten)]
        db: DbArgs,
        /// Address to listen on.
        #[arg(long, env = "ROSTER_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// External base URL used in metadata, ACS and SCIM URLs (default http://<listen>).
        #[arg(long, env = "ROSTER_PUBLIC_URL")]
        public_url: Option<String>,
        /// Separate address for Prometheus metrics at /metrics (off when unset).
        #[arg(long, env = "ROSTER_METRICS_LISTEN")]
        metrics_listen: Option<SocketAddr>,
        /// DNS server (IP:PORT) for domain verification; default: the system resolver.
        #[arg(long, env = "ROSTER_DNS_RESOLVER")]
        dns_resolver: Option<SocketAddr>,
        /// Largest accepted request body, in bytes.
        #[arg(long, env = "ROSTER_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
        max_body_bytes: usize,
        /// SQLite: most writes per group commit (1 commits each write on its own).
        #[arg(long, env = "ROSTER_SQLITE_BATCH", default_value_t = 256, hide = true)]
        sqlite_batch: usize,
        /// PostgreSQL: most writes per transaction (1 runs each write in its own).
        #[arg(long, env = "ROSTER_PG_BATCH", default_value_t = roster_store::PG_BATCH, hide = true)]
        pg_batch: usize,
        /// PostgreSQL: batches of writes in flight at once, each on its own connection.
        #[arg(long, env = "ROSTER_PG_WRITE_LANES", default_value_t = roster_store::PG_WRITE_LANES, hide = true)]
        pg_write_lanes: usize,
        /// An origin (https://app.example) a sign-in may return to besides this server; repeatable, or comma-separated.
        #[arg(long = "return-origin", env = "ROSTER_RETURN_ORIGINS", value_delimiter = ',')]
        return_origins: Vec<String>,
        /// A proxy (IP) whose X-Forwarded-For names the client; repeatable, or comma-separated.
        #[arg(long = "trusted-proxy", env = "ROSTER_TRUSTED_PROXIES", value_delimiter = ',')]
        trusted_proxies: Vec<std::net::IpAddr>,
        /// Sign-in requests (/sso/…) one client may make per minute; over it, 429.
        #[arg(long, env = "ROSTER_SSO_REQUESTS_PER_MINUTE", default_value_t = 600)]
        sso_requests_per_minute: u32,
        /// Sign-in requests one connection may receive per minute, from all clients; over it, 429.
        #[arg(long, env = "ROSTER_SSO_REQUESTS_PER_CONNECTION_PER_MINUTE", default_value_t = 6000)]
        sso_requests_per_connection_per_minute: u32,
        /// Failed admin or SCIM token authentications one client may make per minute; over it, 429.
        #[arg(long, env = "ROSTER_AUTH_FAILURES_PER_MINUTE", default_value_t = 30)]
        auth_failures_per_minute: u32,
        /// A session unused this many minutes ends (T1: 30 days without use).
        #[arg(long, env = "ROSTER_SESSION_IDLE_MINUTES", default_value_t = 30 * 24 * 60)]
        session_idle_minutes: u32,
        /// Days the events feed (/api/v1/events) serves; an older cursor answers 410.
        #[arg(long, env = "ROSTER_EVENTS_RETENTION_DAYS", default_value_t = 30)]
        events_retention_days: u32,
        /// Let webhooks target loopback and private addresses (off: they are refused).
        #[arg(long, env = "ROSTER_WEBHOOK_ALLOW_PRIVATE", default_value_t = false)]
        webhook_allow_private: bool,
        /// The first wait after a failed webhook delivery, in ms; it doubles up to an hour.
        #[arg(long, env = "ROSTER_WEBHOOK_BACKOFF_MS", default_value_t = 5_000)]
        webhook_backoff_ms: u64,
        /// Turn a webhook endpoint off after this many hours of failures without a success.
        #[arg(long, env = "ROSTER_WEBHOOK_DISABLE_AFTER_HOURS", default_value_t = 72)]
        webhook_disable_after_hours: u32,
        /// Requests served at once; past it, 503 with Retry-After (health checks excepted).
        #[arg(long, env = "ROSTER_MAX_IN_FLIGHT", default_value_t = 1024)]
        max_in_flight: usize,
        /// File holding the key (base64 of 32 bytes) that seals secrets at rest; or set
        /// ROSTER_SECRET_KEY. Default: secret.key beside the SQLite file, made on first start.
        #[arg(long, env = "ROSTER_SECRET_KEY_FILE")]
        secret_key_file: Option<std::path::PathBuf>,
        /// File holding the key secrets were sealed with before (key rotation): what it
        /// sealed is re-sealed with the current key at start.
        #[arg(long, env = "ROSTER_PREVIOUS_SECRET_KEY_FILE")]
        previous_secret_key_file: Option<std::path::PathBuf>,
    },
    /// Apply migrations and exit.
    Migrate {
        #[command(flatten)]
        db: DbArgs,
    },
}

fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("ROSTER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,hickory=warn"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Human => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).with_span_list(false).init();
    } else {
        builder.init();
    }
}

/// A secret from the environment: `NAME`, or the contents of the file `NAME_FILE` names
/// (trailing newline dropped), never both. Empty is unset.
fn secret_from_env(name: &str) -> Result<Option<String>, String> {
    let direct = std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let file = std::env::var(format!("{name}_FILE"))
        .ok()
        .filter(|v| !v.trim().is_empty());
    match (direct, file) {
        (Some(_), Some(_)) => Err(format!("set {name} or {name}_FILE, not both")),
        (Some(v), None) => Ok(Some(v)),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{name}_FILE {path}: {e}"))?;
            let v = text.trim_end_matches(['\r', '\n']).to_string();
            Ok(Some(v).filter(|v| !v.trim().is_empty()))
        }
        (None, None) => Ok(None),
    }
}

/// The database URL: `--database`, else `ROSTER_DATABASE_URL` or the file
/// `ROSTER_DATABASE_URL_FILE` names, else the embedded default.
fn database_url(flag: Option<String>) -> Result<String, String> {
    match flag {
        Some(url) => Ok(url),
        None => Ok(secret_from_env("ROSTER_DATABASE_URL")?.unwrap_or_else(|| Config::DEFAULT_DATABASE.to_string())),
    }
}

/// Registers the shutdown signals at once and returns the future that waits for one.
///
/// Registration has to happen before the server answers its first request: a signal
/// handler installed lazily, when the future is first polled, leaves a window in which
/// SIGTERM still has its default action and kills the process without draining.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    let signalled = {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        async move {
            tokio::select! { _ = term.recv() => {}, _ = interrupt.recv() => {} }
        }
    };
    #[cfg(not(unix))]
    let signalled = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    Ok(async move {
        signalled.await;
        tracing::info!("shutting down: draining in-flight requests");
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("roster: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Migrate { db } => {
            init_logging(db.log_format);
            let config = Config::new(database_url(db.database)?, "http://127.0.0.1:8080");
            roster_server::open_store(&config).await?.close().await;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Serve {
            db,
            listen,
            public_url,
            metrics_listen,
            dns_resolver,
            max_body_bytes,
            sqlite_batch,
            pg_batch,
            pg_write_lanes,
            return_origins,
            trusted_proxies,
            sso_requests_per_minute,
            sso_requests_per_connection_per_minute,
            auth_failures_per_minute,
            session_idle_minutes,
            events_retention_days,
            webhook_allow_private,
            webhook_backoff_ms,
            webhook_disable_after_hours,
            max_in_flight,
            secret_key_file,
            previous_secret_key_file,
        } => {
            init_logging(db.log_format);
            let shutdown = shutdown_signal()?;
            // Bind first, so that `--listen 127.0.0.1:0` reports and uses the real port.
            let listener = tokio::net::TcpListener::bind(listen).await?;
            let listen = listener.local_addr()?;
            let metrics = match metrics_listen {
                Some(addr) => Some(tokio::net::TcpListener::bind(addr).await?),
                None => None,
            };
            let mut config = Config::new(
                database_url(db.database)?,
                public_url.unwrap_or_else(|| format!("http://{listen}")),
            );
            config.admin_token = secret_from_env("ROSTER_ADMIN_TOKEN")?;
            config.dns_resolver = dns_resolver;
            config.max_body_bytes = max_body_bytes;
            config.sqlite_batch = sqlite_batch;
            config.pg_batch = pg_batch;
            config.pg_write_lanes = pg_write_lanes;
            config.return_origins = return_origins;
            config.trusted_proxies = trusted_proxies;
            config.sso_requests_per_minute = sso_requests_per_minute;
            config.sso_requests_per_connection_per_minute = sso_requests_per_connection_per_minute;
            config.auth_failures_per_minute = auth_failures_per_minute;
            config.session_idle_minutes = session_idle_minutes;
            config.events_retention_days = events_retention_days;
            config.webhook_allow_private = webhook_allow_private;
            config.webhook_backoff_ms = webhook_backoff_ms;
            config.webhook_disable_after_hours = webhook_disable_after_hours;
            config.max_in_flight = max_in_flight;
            let direct_key = std::env::var("ROSTER_SECRET_KEY").ok().filter(|v| !v.trim().is_empty());
            config.secret_key = match (direct_key, secret_key_file) {
                (Some(_), Some(_)) => return Err("set ROSTER_SECRET_KEY or --secret-key-file, not both".into()),
                (Some(k), None) => Some(k),
                (None, Some(path)) => Some(
                    std::fs::read_to_string(&path).map_err(|e| format!("--secret-key-file {}: {e}", path.display()))?,
                ),
                (None, None) => None,
            };
            config.previous_secret_key = match previous_secret_key_file {
                Some(path) => Some(
                    std::fs::read_to_string(&path)
                        .map_err(|e| format!("--previous-secret-key-file {}: {e}", path.display()))?,
                ),
                None => None,
            };
            let (state, generated) = roster_server::build_state(config, roster_server::system_clock()).await?;
            if let Some(token) = generated {
                println!("Generated the admin token (shown only this once; only its hash is stored):\n\n    {token}\n");
            }
            let metrics_addr = metrics
                .as_ref()
                .and_then(|m| m.local_addr().ok())
                .map(|a| a.to_string());
            tracing::info!(%listen, metrics = metrics_addr.as_deref().unwrap_or("off"), database = state.store.backend().as_str(), public_url = %state.config.public_url, "roster serving");
            roster_server::launch(state, listener, metrics, shutdown).await?;
            tracing::info!("stopped");
            Ok(())
        }
    }
}
