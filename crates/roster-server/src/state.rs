use crate::config::Config;
use crate::dns::TxtResolver;
use roster_store::Store;
use std::sync::Arc;

/// Where the current time comes from; injected so tests can be exact.
pub trait Clock: Send + Sync {
    /// Unix milliseconds.
    fn now_ms(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let now = time::OffsetDateTime::now_utc();
        (now.unix_timestamp_nanos() / 1_000_000) as i64
    }
}

/// What every handler shares, behind one `Arc`: a request clones its state at each
/// extractor and layer, and one reference count costs less than a count per service.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The services of [`AppState`].
pub struct Services {
    pub store: Store,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    pub dns: TxtResolver,
    pub scim_auth: Arc<crate::auth_cache::ScimAuthCache>,
    /// Limits on what anyone can reach without a credential.
    pub limits: Arc<crate::abuse::Limits>,
    /// SAML SP keys, parsed, by key id.
    pub sp_keys: moka::sync::Cache<String, Arc<roster_saml::keys::SpKey>>,
    /// Seals and opens secrets at rest.
    pub sealer: Arc<crate::secrets::Sealer>,
    /// The OIDC providers connections sign people in with.
    pub oidc: Arc<crate::oidc_client::Providers>,
    /// The active signing key of each algorithm, opened, for a minute at a time.
    pub issuer_keys: moka::sync::Cache<&'static str, Arc<crate::signing_keys::IssuerKey>>,
    /// Wakes the back-channel logout sender when a change queued some.
    pub logouts_queued: Arc<tokio::sync::Notify>,
}

impl Services {
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }
}
