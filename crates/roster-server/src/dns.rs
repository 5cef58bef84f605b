//! TXT lookups for domain verification, through a real resolver: the system's, or the
//! one named by `--dns-resolver` (tests run one on loopback).

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{ResolveError, TokioResolver};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Clone)]
pub struct TxtResolver {
    /// Shared: the state holding it is cloned for every request.
    inner: std::sync::Arc<TokioResolver>,
}

/// The outcome of a lookup that reached a DNS server.
pub enum Lookup {
    Records(Vec<String>),
    NoRecords,
}

impl TxtResolver {
    pub fn new(server: Option<SocketAddr>) -> Result<Self, ResolveError> {
        let mut opts = ResolverOpts::default();
        opts.timeout = Duration::from_secs(3);
        opts.attempts = 2;
        // Verification must see the current record, not one cached from before it was
        // published.
        opts.cache_size = 0;
        let builder = match server {
            Some(addr) => {
                let mut config = ResolverConfig::new();
                config.add_name_server(NameServerConfig::new(addr, Protocol::Udp));
                config.add_name_server(NameServerConfig::new(addr, Protocol::Tcp));
                TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
            }
            None => TokioResolver::builder_tokio()?,
        };
        Ok(Self {
            inner: std::sync::Arc::new(builder.with_options(opts).build()),
        })
    }

    /// The TXT strings published at `domain` (each record's pieces joined).
    pub async fn txt(&self, domain: &str) -> Result<Lookup, ResolveError> {
        let fqdn = format!("{}.", domain.trim_end_matches('.'));
        match self.inner.txt_lookup(fqdn).await {
            Ok(lookup) => Ok(Lookup::Records(
                lookup
                    .iter()
                    .map(|txt| {
                        txt.txt_data()
                            .iter()
                            .map(|part| String::from_utf8_lossy(part).into_owned())
                            .collect::<String>()
                    })
                    .collect(),
            )),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Lookup::NoRecords),
            Err(e) => Err(e),
        }
    }
}
