//! The SSRF guard. A webhook URL is the account's to choose, so the service must never become a way
//! into the network it runs in. Names are resolved at connection time by the HTTP client's own
//! resolver (this one), every address is vetted, and the client connects only to the vetted
//! addresses, so a name that resolves to a public address when registered and to 169.254.169.254 at
//! delivery time is still refused. Literal IP hosts never reach a resolver, so they are vetted
//! before the request is sent. The client follows no redirects and uses no proxy.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::WebhookConfig;

/// Which address ranges deliveries may reach.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AddressPolicy {
    allow_loopback: bool,
    allow_private: bool,
}

/// Why an address is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    Loopback,
    Private,
    /// Unspecified, multicast, broadcast, documentation: never a webhook receiver.
    Unroutable,
}

impl AddressPolicy {
    pub(crate) fn new(config: &WebhookConfig) -> Self {
        Self {
            allow_loopback: config.allow_loopback,
            allow_private: config.allow_private,
        }
    }

    pub(crate) fn check(self, address: IpAddr) -> Result<(), Refusal> {
        match classify(address) {
            Class::Public => Ok(()),
            Class::Loopback if self.allow_loopback => Ok(()),
            Class::Loopback => Err(Refusal::Loopback),
            Class::Private if self.allow_private => Ok(()),
            Class::Private => Err(Refusal::Private),
            Class::Unroutable => Err(Refusal::Unroutable),
        }
    }
}

enum Class {
    Public,
    Loopback,
    /// RFC 1918, link-local (which holds the cloud metadata service at 169.254.169.254), CGNAT
    /// (100.64/10), benchmarking, unique-local IPv6 (which holds AWS's fd00:ec2::254).
    Private,
    Unroutable,
}

fn classify(address: IpAddr) -> Class {
    match address {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            // IPv4-mapped and IPv4-compatible forms reach the IPv4 address: judge that.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return classify_v4(v4);
            }
            classify_v6(v6)
        }
    }
}

fn classify_v4(v4: Ipv4Addr) -> Class {
    let [a, b, ..] = v4.octets();
    if v4.is_loopback() {
        Class::Loopback
    } else if v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0
        || a >= 240
    {
        Class::Unroutable
    } else if v4.is_private()
        || v4.is_link_local()
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (b == 18 || b == 19))
        || (a == 192 && b == 0 && v4.octets()[2] == 0)
    {
        Class::Private
    } else {
        Class::Public
    }
}

fn classify_v6(v6: Ipv6Addr) -> Class {
    let first = v6.segments()[0];
    if v6.is_loopback() {
        Class::Loopback
    } else if v6.is_unspecified() || v6.is_multicast() || first == 0x2001 && v6.segments()[1] == 0x0db8 {
        Class::Unroutable
    } else if (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80 || (first & 0xffc0) == 0xfec0 {
        Class::Private
    } else if first == 0x0064 && v6.segments()[1] == 0xff9b {
        // NAT64 embeds an IPv4 address in the last 32 bits: judge that.
        let [.., c, d] = v6.segments();
        classify_v4(Ipv4Addr::new((c >> 8) as u8, c as u8, (d >> 8) as u8, d as u8))
    } else {
        Class::Public
    }
}

/// The client's resolver: the system's, then the policy. A name with no acceptable address fails
/// to resolve, which the client reports as a connection error that [`is_refusal`] recognises.
struct VettingResolver {
    policy: AddressPolicy,
}

/// The marker a refused resolution carries, so the delivery records `refused_address`.
pub(crate) const REFUSED: &str = "refused by the webhook address policy";

#[derive(Debug)]
struct RefusedAddress(String);

impl std::fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{REFUSED}: {}", self.0)
    }
}

impl std::error::Error for RefusedAddress {}

impl Resolve for VettingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let vetted: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|address| policy.check(address.ip()).is_ok())
                .collect();
            if vetted.is_empty() {
                let refused = resolved
                    .first()
                    .map(|address| address.ip().to_string())
                    .unwrap_or_default();
                return Err(Box::new(RefusedAddress(format!("{host} resolves to {refused}"))) as _);
            }
            Ok(Box::new(vetted.into_iter()) as Addrs)
        })
    }
}

/// Whether a client error came from the address policy.
pub(crate) fn is_refusal(error: &reqwest::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(current) = source {
        if current.to_string().contains(REFUSED) {
            return true;
        }
        source = current.source();
    }
    false
}

/// The delivery client: vetting resolver, no redirects, no proxy, the configured timeout.
pub(crate) fn client(config: &WebhookConfig) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(VettingResolver {
            policy: AddressPolicy::new(config),
        }))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(config.request_timeout())
        .pool_max_idle_per_host(64)
        .user_agent(concat!("Latchkey-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Checks a URL's host when it is a literal address (names are vetted when resolved).
pub(crate) fn check_literal_host(policy: AddressPolicy, url: &reqwest::Url) -> Result<(), Refusal> {
    let host = url.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(address) => policy.check(address),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> AddressPolicy {
        AddressPolicy::new(&WebhookConfig::default())
    }

    #[test]
    fn internal_addresses_are_refused_by_default() {
        for address in [
            "127.0.0.1",
            "::1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "0.0.0.0",
            "::",
            "64:ff9b::a9fe:a9fe",
        ] {
            let ip: IpAddr = address.parse().unwrap();
            assert!(strict().check(ip).is_err(), "{address} must be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for address in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            let ip: IpAddr = address.parse().unwrap();
            assert!(strict().check(ip).is_ok(), "{address} must pass");
        }
    }

    #[test]
    fn configuration_opens_loopback_and_private_ranges_separately() {
        let dev = AddressPolicy::new(&WebhookConfig {
            allow_loopback: true,
            ..WebhookConfig::default()
        });
        assert!(dev.check("127.0.0.1".parse().unwrap()).is_ok());
        assert_eq!(dev.check("10.0.0.1".parse().unwrap()), Err(Refusal::Private));
        assert_eq!(dev.check("169.254.169.254".parse().unwrap()), Err(Refusal::Private));
    }
}
