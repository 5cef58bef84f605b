//! The OIDC relying party's IO: the providers' discovery documents and keys (fetched
//! with a timeout and a size cap, kept for an hour, the keys fetched again when a token
//! names one they lack), the token exchange and userinfo. The rules are in
//! `roster-oidc`; this module only moves bytes.

use roster_oidc::provider::{discovery_url, ClientAuth, Tokens, MAX_DOCUMENT_BYTES};
use roster_oidc::{Jwks, OidcError, ProviderMetadata};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long one request to a provider may take.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long a provider's discovery document and keys are kept.
const KEEP: Duration = Duration::from_secs(60 * 60);
/// The most pages of Microsoft Graph read for one sign-in, and the longest all of them
/// may take.
const GRAPH_PAGES: usize = 20;
const GRAPH_TIME: Duration = Duration::from_secs(15);

/// A provider's keys are fetched again at most this often on an unknown `kid`, so that
/// tokens naming made-up keys cannot make Roster hammer the provider.
const REFETCH_EVERY: Duration = Duration::from_secs(30);

/// Why a provider could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// It did not answer, or not in time, or too much.
    #[error("{0}")]
    Unreachable(String),
    /// It answered something Roster refuses.
    #[error("{0}")]
    Invalid(#[from] OidcError),
}

/// Roster as the provider's client.
pub struct Client<'a> {
    pub id: &'a str,
    pub secret: &'a str,
    pub auth: ClientAuth,
}

/// One provider: its discovery document and its current keys.
pub struct Provider {
    pub metadata: ProviderMetadata,
    keys: RwLock<Keys>,
}

struct Keys {
    jwks: Arc<Jwks>,
    /// When a token naming an unknown key last made Roster fetch the keys again.
    refetched: Option<Instant>,
}

impl Provider {
    pub fn jwks(&self) -> Arc<Jwks> {
        self.keys
            .read()
            .map_or_else(|p| p.into_inner().jwks.clone(), |k| k.jwks.clone())
    }
}

/// How long a provider that could not be discovered is not asked again: sign-in
/// attempts meanwhile fail at once instead of each waiting on it.
const FAILED_KEEP: Duration = Duration::from_secs(30);

/// The providers Roster signs people in with, by issuer.
pub struct Providers {
    http: reqwest::Client,
    cache: moka::sync::Cache<String, Arc<Provider>>,
    /// Issuers whose discovery failed moments ago, with why.
    failed: moka::sync::Cache<String, String>,
}

impl Providers {
    pub fn new() -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            // A provider's endpoints are where its discovery document says: no redirect is
            // followed (the token request carries the client secret).
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("roster/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the HTTP client for OIDC providers: {e}"))?;
        Ok(Self {
            http,
            cache: moka::sync::Cache::builder()
                .max_capacity(1_000)
                .time_to_live(KEEP)
                .build(),
            failed: moka::sync::Cache::builder()
                .max_capacity(1_000)
                .time_to_live(FAILED_KEEP)
                .build(),
        })
    }

    /// The provider of `issuer`: kept, or discovered now (its document and keys).
    pub async fn get(&self, issuer: &str) -> Result<Arc<Provider>, ProviderError> {
        if let Some(p) = self.cache.get(issuer) {
            return Ok(p);
        }
        if let Some(why) = self.failed.get(issuer) {
            return Err(ProviderError::Unreachable(format!(
                "{why} (moments ago; asked again within {} s)",
                FAILED_KEEP.as_secs()
            )));
        }
        self.refresh(issuer).await
    }

    /// Discovers `issuer` now and keeps the result, replacing what was kept (the
    /// connection check, so that an admin's check also repairs sign-ins).
    pub async fn refresh(&self, issuer: &str) -> Result<Arc<Provider>, ProviderError> {
        match self.discover(issuer).await {
            Ok(p) => {
                let p = Arc::new(p);
                self.failed.invalidate(issuer);
                self.cache.insert(issuer.to_string(), p.clone());
                Ok(p)
            }
            Err(e) => {
                self.failed.insert(issuer.to_string(), e.to_string());
                Err(e)
            }
        }
    }

    /// Fetches `issuer`'s discovery document and keys.
    async fn discover(&self, issuer: &str) -> Result<Provider, ProviderError> {
        roster_oidc::provider::check_issuer(issuer)?;
        let url = discovery_url(issuer);
        let (status, body) = self.fetch(self.http.get(&url), "the discovery document").await?;
        if status != 200 {
            return Err(ProviderError::Unreachable(format!(
                "the discovery document {url} answered {status}: is the issuer right?"
            )));
        }
        let metadata = ProviderMetadata::parse(&body, issuer)?;
        let jwks = self.fetch_jwks(&metadata.jwks_uri).await?;
        Ok(Provider {
            metadata,
            keys: RwLock::new(Keys {
                jwks: Arc::new(jwks),
                refetched: None,
            }),
        })
    }

    async fn fetch_jwks(&self, url: &str) -> Result<Jwks, ProviderError> {
        let (status, body) = self.fetch(self.http.get(url), "the JWKS").await?;
        if status != 200 {
            return Err(ProviderError::Unreachable(format!("the JWKS {url} answered {status}")));
        }
        Ok(Jwks::parse(&body)?)
    }

    /// Fetches `p`'s keys again for a token naming a key they lack, unless such a fetch
    /// was made moments ago. Returns whether the keys were fetched.
    pub async fn refresh_keys(&self, p: &Provider) -> Result<bool, ProviderError> {
        let before = {
            let mut keys = p.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            if keys.refetched.is_some_and(|at| at.elapsed() < REFETCH_EVERY) {
                return Ok(false);
            }
            // Claimed now, so that concurrent callers do not fetch too.
            keys.refetched.replace(Instant::now())
        };
        let fetched = self.fetch_jwks(&p.metadata.jwks_uri).await;
        let mut keys = p.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match fetched {
            Ok(jwks) => {
                keys.jwks = Arc::new(jwks);
                Ok(true)
            }
            Err(e) => {
                // A failed fetch does not hold the next one off.
                keys.refetched = before;
                Err(e)
            }
        }
    }

    /// Exchanges `code` at the token endpoint.
    pub async fn exchange(
        &self,
        p: &Provider,
        client: &Client<'_>,
        code: &str,
        redirect_uri: &str,
        pkce_verifier: &str,
    ) -> Result<Tokens, ProviderError> {
        let (form, authorization) = roster_oidc::provider::token_request(
            client.auth,
            client.id,
            client.secret,
            code,
            redirect_uri,
            pkce_verifier,
        );
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let mut req = self
            .http
            .post(&p.metadata.token_endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body);
        if let Some(a) = authorization {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }
        let (status, body) = self.fetch(req, "the token endpoint").await?;
        Ok(roster_oidc::provider::token_response(status, &body)?)
    }

    /// The userinfo answer for `access_token`.
    pub async fn userinfo(&self, url: &str, access_token: &str) -> Result<Vec<u8>, ProviderError> {
        let req = self
            .http
            .get(url)
            .bearer_auth(access_token)
            .header(reqwest::header::ACCEPT, "application/json");
        let (status, body) = self.fetch(req, "userinfo").await?;
        if status != 200 {
            return Err(ProviderError::Unreachable(format!("userinfo answered {status}")));
        }
        Ok(body)
    }

    /// The groups of the person `access_token` was issued to, from Microsoft Graph at
    /// `graph` (`/me/transitiveMemberOf`, every page, at most
    /// [`roster_oidc::claims::MAX_GRAPH_GROUPS`] groups, 20 pages and 15 s). Returns the
    /// groups and whether some were left out.
    pub async fn graph_groups(&self, graph: &str, access_token: &str) -> Result<(Vec<String>, bool), ProviderError> {
        tokio::time::timeout(GRAPH_TIME, self.graph_pages(graph, access_token))
            .await
            .map_err(|_| ProviderError::Unreachable(format!("Microsoft Graph took longer than {GRAPH_TIME:?}")))?
    }

    async fn graph_pages(&self, graph: &str, access_token: &str) -> Result<(Vec<String>, bool), ProviderError> {
        use roster_oidc::claims::{graph_page, MAX_GRAPH_GROUPS};
        let mut url = format!(
            "{}/me/transitiveMemberOf/microsoft.graph.group?$select=id,displayName&$top=999",
            graph.trim_end_matches('/')
        );
        let mut groups = Vec::new();
        for _ in 0..GRAPH_PAGES {
            let req = self
                .http
                .get(&url)
                .bearer_auth(access_token)
                .header(reqwest::header::ACCEPT, "application/json");
            let (status, body) = self.fetch(req, "Microsoft Graph").await?;
            if status != 200 {
                return Err(ProviderError::Unreachable(format!(
                    "Microsoft Graph answered {status}: does the app have the GroupMember.Read.All permission, \
                     and does `scopes` ask for it?"
                )));
            }
            let (page, next) = graph_page(&url, &body)?;
            groups.extend(page);
            if groups.len() > MAX_GRAPH_GROUPS {
                groups.truncate(MAX_GRAPH_GROUPS);
                return Ok((groups, true));
            }
            match next {
                Some(next) => url = next,
                None => return Ok((groups, false)),
            }
        }
        // Pages left unread: what was read is used, and the sign-in says so.
        Ok((groups, true))
    }

    /// Sends `req` and reads at most [`MAX_DOCUMENT_BYTES`] of the answer.
    async fn fetch(&self, req: reqwest::RequestBuilder, what: &str) -> Result<(u16, Vec<u8>), ProviderError> {
        let unreachable = |e: reqwest::Error| {
            let why = if e.is_timeout() {
                "did not answer in time".to_string()
            } else {
                format!("cannot be reached ({e})")
            };
            ProviderError::Unreachable(format!("{what} {why}"))
        };
        let too_large = || {
            ProviderError::Invalid(OidcError::Token(format!(
                "{what} answered more than {} KiB",
                MAX_DOCUMENT_BYTES / 1024
            )))
        };
        let mut resp = req.send().await.map_err(unreachable)?;
        let status = resp.status().as_u16();
        if resp.content_length().is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }
}
