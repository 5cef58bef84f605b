//! Roster's HTTP server.
//!
//! - [`launch`] is the seam between the binary and tests: it takes bound listeners and
//!   a shutdown future, migrates the database, bootstraps the admin token and serves.
//! - [`router`] builds the whole HTTP surface: `/healthz`, `/readyz`, the admin API at
//!   `/api/v1` (with its OpenAPI document), SCIM and SSO; [`launch`] puts it behind
//!   [`edge`]: path normalisation, trace id, metrics, error normalisation, deadline and
//!   body limit, in one layer.
//! - Routes mirror the URL space under [`routes`].

pub mod abuse;
pub mod auth;
pub mod auth_cache;
pub mod backchannel;
pub mod config;
pub mod console;
pub mod deadline;
pub mod dns;
pub mod edge;
pub mod error;
pub mod events;
pub mod limits;
pub mod metrics;
pub mod oidc_client;
pub mod pages;
pub mod routes;
pub mod secrets;
pub mod service;
pub mod signing_keys;
pub mod state;
pub mod trace;
pub mod webhooks;

use axum::extract::DefaultBodyLimit;
use axum::{middleware, Router};
use config::Config;
use roster_store::retention;
use roster_store::{tokens, Ctx, Store, StoreOptions};
use state::{AppState, Clock, Services, SystemClock};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(transparent)]
    Store(#[from] roster_store::StoreError),
    #[error("DNS resolver: {0}")]
    Dns(String),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    #[error("configuration: {0}")]
    Config(String),
}

/// Opens the store and applies migrations.
pub async fn open_store(config: &Config) -> Result<Store, LaunchError> {
    let store = Store::connect(
        &config.database_url,
        StoreOptions {
            sqlite_batch: config.sqlite_batch,
            sqlite_checkpoint: config.sqlite_checkpoint,
            pg_batch: config.pg_batch,
            pg_write_lanes: Some(config.pg_write_lanes),
            ..StoreOptions::default()
        },
    )
    .await?;
    store.migrate().await?;
    Ok(store)
}

/// The key secrets are sealed with: the configured one, or the key file beside the
/// SQLite database (`./roster-data/` for PostgreSQL), made on first start with mode 0600.
fn load_sealer(config: &Config) -> Result<secrets::Sealer, LaunchError> {
    let bad = |e: secrets::SecretError| LaunchError::Config(format!("secret key: {e}"));
    if let Some(key) = &config.secret_key {
        return secrets::Sealer::from_base64(key).map_err(bad);
    }
    let dir = match config.database_url.strip_prefix("sqlite:") {
        Some(rest) => {
            let path = rest.trim_start_matches("//");
            let path = path.split_once('?').map_or(path, |(p, _)| p);
            std::path::Path::new(path)
                .parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_default()
        }
        None => std::path::PathBuf::from("roster-data"),
    };
    let file = dir.join("secret.key");
    if !file.exists() {
        std::fs::create_dir_all(&dir).map_err(|e| LaunchError::Config(format!("{}: {e}", dir.display())))?;
        // Written whole under another name, then linked into place: a node starting at
        // the same moment reads a whole key or makes its own link fail and reads ours.
        let tmp = dir.join(format!(".secret.key.{}", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let key = secrets::Sealer::generate().map_err(bad)?;
        let written = options
            .open(&tmp)
            .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{key}\n").as_bytes()));
        written.map_err(|e| LaunchError::Config(format!("{}: {e}", tmp.display())))?;
        let linked = std::fs::hard_link(&tmp, &file);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => tracing::warn!(
                path = %file.display(),
                "generated the secret key that seals SP keys at rest: back it up with the database; every node of one database needs the same key (--secret-key-file)"
            ),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(LaunchError::Config(format!("{}: {e}", file.display()))),
        }
    }
    let text = std::fs::read_to_string(&file).map_err(|e| LaunchError::Config(format!("{}: {e}", file.display())))?;
    secrets::Sealer::from_base64(&text).map_err(bad)
}

/// Seals the secrets stored before sealing, re-seals those the previous key sealed (key
/// rotation), and checks that every other sealed one opens with this key (a wrong key is
/// refused at start, not at the first sign-in). The secrets: SAML SP private keys and
/// OIDC connections' client secrets.
async fn seal_stored_secrets(
    store: &Store,
    sealer: &Arc<secrets::Sealer>,
    previous: Option<&secrets::Sealer>,
) -> Result<(), LaunchError> {
    let (keys, client_secrets) = store
        .read(|db| {
            Box::pin(async move {
                Ok((
                    roster_store::saml::private_keys(db).await?,
                    roster_store::connections::oidc_client_secrets(db).await?,
                ))
            })
        })
        .await?;
    let keys = reseal(sealer, previous, keys)?;
    let client_secrets = reseal(sealer, previous, client_secrets)?;
    if !keys.is_empty() || !client_secrets.is_empty() {
        store
            .write(move |db| {
                Box::pin(async move {
                    for (id, sealed) in &keys {
                        roster_store::saml::set_private_key(db, id, sealed).await?;
                    }
                    for (id, sealed) in &client_secrets {
                        roster_store::connections::set_oidc_client_secret(db, id, sealed).await?;
                    }
                    Ok(())
                })
            })
            .await?;
    }
    Ok(())
}

/// Of `stored` `(id, text)` pairs, those to write back sealed under `sealer`: the ones
/// in the clear and the ones `previous` sealed. Fails on one no known key opens.
fn reseal(
    sealer: &secrets::Sealer,
    previous: Option<&secrets::Sealer>,
    stored: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, LaunchError> {
    let refused = |e: secrets::SecretError| LaunchError::Config(format!("secret key: {e}"));
    let mut to_seal = Vec::new();
    for (id, text) in stored {
        let plain = match previous {
            _ if !secrets::Sealer::is_sealed(&text) => text,
            Some(old) if old.sealed_by_me(&text) => old.open(&text).map_err(refused)?,
            _ => {
                sealer.open(&text).map_err(refused)?;
                continue;
            }
        };
        to_seal.push((id, sealer.seal(&plain).map_err(refused)?));
    }
    Ok(to_seal)
}

/// Builds the application state: store (migrated), resolver, clock; ensures an admin
/// token exists and returns a freshly generated one to be shown once.
pub async fn build_state(config: Config, clock: Arc<dyn Clock>) -> Result<(AppState, Option<String>), LaunchError> {
    // An operator's admin token is a long random secret, as the generated one is.
    if config
        .admin_token
        .as_ref()
        .is_some_and(|t| t.chars().count() < config::MIN_ADMIN_TOKEN_CHARS)
    {
        return Err(LaunchError::Config(format!(
            "ROSTER_ADMIN_TOKEN must be at least {} characters: use a long random secret",
            config::MIN_ADMIN_TOKEN_CHARS
        )));
    }
    let sealer = Arc::new(load_sealer(&config)?);
    let previous = config
        .previous_secret_key
        .as_deref()
        .map(secrets::Sealer::from_base64)
        .transpose()
        .map_err(|e| LaunchError::Config(format!("previous secret key: {e}")))?;
    let store = open_store(&config).await?;
    // Other nodes may share a PostgreSQL database.
    let shared = store.backend() == roster_store::Backend::Postgres;
    seal_stored_secrets(&store, &sealer, previous.as_ref()).await?;
    let dns = dns::TxtResolver::new(config.dns_resolver).map_err(|e| LaunchError::Dns(e.to_string()))?;
    let configured = config.admin_token.clone();
    let ctx = Ctx::new("system", None, "startup", clock.now_ms());
    let generated = store
        .write(move |db| Box::pin(async move { tokens::bootstrap_admin(db, &ctx, configured.as_deref()).await }))
        .await?;
    let limits = Arc::new(abuse::Limits::new(
        config.sso_requests_per_minute,
        config.sso_requests_per_connection_per_minute,
        config.auth_failures_per_minute,
    ));
    let scim_auth = Arc::new(auth_cache::ScimAuthCache::new(store.clone(), shared));
    Ok((
        AppState::new(Services {
            store,
            config: Arc::new(config),
            clock,
            dns,
            scim_auth,
            limits,
            sp_keys: moka::sync::Cache::new(1_000),
            sealer,
            oidc: Arc::new(oidc_client::Providers::new().map_err(LaunchError::Config)?),
            issuer_keys: moka::sync::Cache::builder()
                .time_to_live(Duration::from_secs(60))
                .build(),
            logouts_queued: Default::default(),
        }),
        generated,
    ))
}

/// The routes, each wrapped only in what needs the route it matched (the metrics route
/// label). The cross-cutting layers wrap the router once, in [`launch`]: a layer added
/// with `Router::layer` wraps every route, and a request clones the whole stack of such
/// layers again at each of them.
pub fn router(state: AppState) -> Router {
    routes::router(state).layer(middleware::from_fn(metrics::label_route))
}

/// How often the store's growing tables are purged (`roster_store::retention`).
const PURGE_EVERY: Duration = Duration::from_secs(5 * 60);
const ROLL_UP_EVERY: Duration = Duration::from_secs(30);

/// Counts new audit events into the console's daily activity, every half minute, in
/// batches (each one transaction) until it has caught up.
async fn roll_up_activity(store: roster_store::Store, mut stop: tokio::sync::broadcast::Receiver<()>) {
    const BATCH: i64 = 5_000;
    let mut every = tokio::time::interval(ROLL_UP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.recv() => break,
        }
        loop {
            let read = store
                .write(|db| Box::pin(async move { roster_store::activity::roll_up(db, BATCH).await }))
                .await;
            match read {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "could not roll up the activity");
                    break;
                }
            }
        }
    }
}

/// Serves until `shutdown` completes, then stops accepting, drains in-flight requests
/// and closes the store (committing queued writes).
pub async fn launch(
    state: AppState,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), LaunchError> {
    metrics::install();
    let store = state.store.clone();
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    if let Some(ml) = metrics_listener {
        let app = metrics::router(state.clone());
        let mut stop = stop_tx.subscribe();
        tokio::spawn(async move {
            let _ = axum::serve(ml, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.recv().await;
                })
                .await;
        });
    }
    // What only grows with traffic is purged every few minutes, and once at start.
    {
        let store = state.store.clone();
        let clock = state.clock.clone();
        let mut stop = stop_tx.subscribe();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(PURGE_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = every.tick() => {}
                    _ = stop.recv() => break,
                }
                let now = clock.now_ms();
                let purged = store
                    .write(move |db| {
                        Box::pin(async move { retention::purge(db, now, retention::Policy::default()).await })
                    })
                    .await;
                match purged {
                    Ok(p) => tracing::debug!(?p, "purged"),
                    Err(e) => tracing::warn!(error = %e, "could not purge"),
                }
            }
        });
    }
    tokio::spawn(roll_up_activity(store.clone(), stop_tx.subscribe()));
    {
        let (store, cache, mut stop) = (store.clone(), state.scim_auth.clone(), stop_tx.subscribe());
        tokio::spawn(async move {
            tokio::select! {
                _ = auth_cache::follow(store, cache) => {}
                _ = stop.recv() => {}
            }
        });
    }
    tokio::spawn(backchannel::run(state.clone(), stop_tx.subscribe()));
    tokio::spawn(webhooks::run(state.clone(), stop_tx.subscribe()));
    let limits = edge::Limits {
        max_body: state.config.max_body_bytes,
        timeout: Duration::from_secs(state.config.request_timeout_secs),
        trusted_proxies: state.config.trusted_proxies.clone().into(),
        abuse: state.limits.clone(),
        in_flight: Arc::new(tokio::sync::Semaphore::new(state.config.max_in_flight.max(1))),
    };
    let app = tower::ServiceBuilder::new()
        .layer(middleware::from_fn_with_state(limits.clone(), edge::edge))
        .layer(DefaultBodyLimit::max(limits.max_body))
        .service(router(state));
    let result = axum::serve(
        listener,
        // The TCP peer, for the abuse limits' client address.
        axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<std::net::SocketAddr>(app),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        let _ = stop_tx.send(());
    })
    .await;
    store.close().await;
    result.map_err(LaunchError::from)
}

/// The production clock.
pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}
