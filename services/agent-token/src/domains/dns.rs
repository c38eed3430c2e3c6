//! The DNS side of verification: the `[domains]` settings, the resolver they configure
//! (hickory-resolver), and one check of a domain's TXT record.
//!
//! The resolver keeps no cache, so every check asks the name servers: a record just published is
//! seen by the next verify, one just removed by the next re-check. Names are asked fully qualified
//! (a trailing dot), so no search domain of the system's configuration applies.

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use hickory_resolver::{
    TokioResolver,
    config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts},
    net::{NetError, runtime::TokioRuntimeProvider},
    proto::rr::RData,
};
use serde::Deserialize;

/// The name the TXT record is published at: `_latchkey-challenge.<domain>`.
pub const CHALLENGE_LABEL: &str = "_latchkey-challenge";

/// The `[domains]` section of the settings file.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DomainsConfig {
    /// Name servers asked, comma-separated, each `IP` (port 53) or `IP:PORT` (`[IPv6]:PORT`);
    /// empty: the system's resolver configuration (`/etc/resolv.conf`).
    pub nameservers: String,
    /// How long one check may wait for DNS, in milliseconds; then it answers `timeout`.
    pub lookup_timeout_ms: u64,
    /// How often a verified domain is checked again, in seconds; it lapses to `failed` when its
    /// record is gone or changed.
    pub recheck_interval_secs: u64,
    /// How long a domain may stay pending, in seconds; then it becomes `failed` (reason `expired`).
    /// 0: pending domains never expire.
    pub pending_ttl_secs: u64,
}

impl Default for DomainsConfig {
    fn default() -> Self {
        Self {
            nameservers: String::new(),
            lookup_timeout_ms: 5_000,
            recheck_interval_secs: 3_600,
            pending_ttl_secs: 7 * 24 * 3_600,
        }
    }
}

/// Why the `[domains]` settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DomainsConfigError {
    #[error("domains.nameservers: {0:?} is not an IP address or IP:PORT")]
    Nameserver(String),
    #[error("domains.{0} must be at least 1")]
    Zero(&'static str),
}

impl DomainsConfig {
    /// The name servers the setting lists; empty for the system's.
    pub fn nameserver_addresses(&self) -> Result<Vec<SocketAddr>, DomainsConfigError> {
        self.nameservers
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<SocketAddr>()
                    .or_else(|_| entry.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                    .map_err(|_| DomainsConfigError::Nameserver(entry.to_owned()))
            })
            .collect()
    }

    fn validated(&self) -> Result<Vec<SocketAddr>, DomainsConfigError> {
        if self.lookup_timeout_ms == 0 {
            return Err(DomainsConfigError::Zero("lookup_timeout_ms"));
        }
        if self.recheck_interval_secs == 0 {
            return Err(DomainsConfigError::Zero("recheck_interval_secs"));
        }
        self.nameserver_addresses()
    }
}

/// Why a check did not verify a domain, as the API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The name does not exist, or holds no TXT record.
    NoRecord,
    /// TXT records are there, but none holds the claim's value.
    ValueMismatch,
    /// The name servers answered with an error (SERVFAIL, REFUSED, …) or could not be reached.
    DnsError,
    /// No answer within `lookup_timeout_ms`.
    Timeout,
    /// Pending for longer than `pending_ttl_secs`.
    Expired,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoRecord => "no_record",
            Self::ValueMismatch => "value_mismatch",
            Self::DnsError => "dns_error",
            Self::Timeout => "timeout",
            Self::Expired => "expired",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::NoRecord,
            Self::ValueMismatch,
            Self::DnsError,
            Self::Timeout,
            Self::Expired,
        ]
        .into_iter()
        .find(|reason| reason.as_str() == value)
    }

    /// True when DNS said so (the record is missing or wrong), as opposed to not answering: only
    /// such an answer lapses a verified domain.
    pub fn is_definitive(self) -> bool {
        matches!(self, Self::NoRecord | Self::ValueMismatch)
    }
}

/// Looks TXT records up with the configured name servers.
pub(crate) struct DnsChecker {
    /// `None` when the system's configuration could not be read: every check is a `dns_error`.
    resolver: Option<TokioResolver>,
    timeout: Duration,
}

impl std::fmt::Debug for DnsChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsChecker")
            .field("resolver", &self.resolver.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl DnsChecker {
    pub(crate) fn new(config: &DomainsConfig) -> Result<Self, DomainsConfigError> {
        Ok(Self::with_nameservers(config, &config.validated()?))
    }

    /// A checker asking `nameservers` (the system's when empty), with `config`'s timeout.
    pub(crate) fn with_nameservers(config: &DomainsConfig, nameservers: &[SocketAddr]) -> Self {
        let timeout = Duration::from_millis(config.lookup_timeout_ms);
        let builder = if nameservers.is_empty() {
            match TokioResolver::builder_tokio() {
                Ok(builder) => Some(builder),
                Err(error) => {
                    tracing::warn!(%error, "cannot read the system's DNS configuration; domain checks will fail \
                                            until domains.nameservers is set");
                    None
                }
            }
        } else {
            let servers = nameservers.iter().map(|address| name_server(*address)).collect();
            Some(TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(servers),
                TokioRuntimeProvider::default(),
            ))
        };
        let resolver = builder
            .map(|mut builder| {
                let options: &mut ResolverOpts = builder.options_mut();
                options.timeout = timeout;
                options.attempts = 2;
                options.cache_size = 0;
                options.use_hosts_file = ResolveHosts::Never;
                builder.build()
            })
            .transpose()
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "cannot build the DNS resolver; domain checks will fail");
                None
            });
        Self { resolver, timeout }
    }

    /// Looks up `_latchkey-challenge.<domain>` and answers whether one of its TXT records holds
    /// `expected` (a record's strings joined, as RFC 7208 §3.3 joins them). A CNAME there is
    /// followed, as resolvers do.
    pub(crate) async fn check(&self, domain: &str, expected: &str) -> Result<(), Reason> {
        let Some(resolver) = &self.resolver else {
            return Err(Reason::DnsError);
        };
        let name = format!("{CHALLENGE_LABEL}.{domain}.");
        let answer = match tokio::time::timeout(self.timeout, resolver.txt_lookup(name.as_str())).await {
            Err(_) => return Err(Reason::Timeout),
            Ok(answer) => answer,
        };
        let lookup = match answer {
            Ok(lookup) => lookup,
            Err(error) if error.is_no_records_found() => return Err(Reason::NoRecord),
            Err(NetError::Timeout) => return Err(Reason::Timeout),
            Err(error) => {
                tracing::info!(%error, name, "DNS lookup failed");
                return Err(Reason::DnsError);
            }
        };
        let mut values = lookup.answers().iter().filter_map(|record| match &record.data {
            RData::TXT(txt) => Some(txt.txt_data.concat()),
            _ => None,
        });
        let mut any = false;
        let found = values.any(|value| {
            any = true;
            value.trim_ascii() == expected.as_bytes()
        });
        match (found, any) {
            (true, _) => Ok(()),
            (false, true) => Err(Reason::ValueMismatch),
            (false, false) => Err(Reason::NoRecord),
        }
    }
}

/// A name server at `address`, over UDP and (for truncated answers) TCP on the same port.
fn name_server(address: SocketAddr) -> NameServerConfig {
    let connection = |mut connection: ConnectionConfig| {
        connection.port = address.port();
        connection
    };
    NameServerConfig::new(
        address.ip(),
        true,
        vec![connection(ConnectionConfig::udp()), connection(ConnectionConfig::tcp())],
    )
}

#[cfg(test)]
mod tests;
