//! The SSRF guard of every request Latchkey sends where an account points it: webhook deliveries
//! (the URL is the account's to choose) and the credential proxy (a deployment's catalogue names
//! the hosts). Neither may become a way into the network Latchkey runs in. Names are resolved at connection time by the HTTP client's own
//! resolver (this one), every address is vetted, and the client connects only to the vetted
//! addresses, so a name that resolves to a public address when registered and to 169.254.169.254 at
//! delivery time is still refused. Literal IP hosts never reach a resolver, so they are vetted
//! before the request is sent ([`check_literal_host`]). The client follows no redirects and uses no
//! proxy.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Which address ranges requests may reach.
#[derive(Clone, Copy, Debug)]
pub struct AddressPolicy {
    allow_loopback: bool,
    allow_private: bool,
}

/// Why an address is refused: the rule, which is what a refusal records (never the address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Loopback,
    Private,
    /// Unspecified, multicast, broadcast, documentation: never a webhook receiver.
    Unroutable,
}

impl Refusal {
    /// The rule's name, e.g. `loopback address`.
    pub fn rule(self) -> &'static str {
        match self {
            Self::Loopback => "loopback address",
            Self::Private => "private, link-local or metadata address",
            Self::Unroutable => "unroutable address",
        }
    }

    /// What the delivery log records: `destination refused: loopback address`. Only the rule: the
    /// address a name resolved to is the operator's network, not the account's to see.
    pub fn recorded(self) -> String {
        format!("destination refused: {}", self.rule())
    }
}

impl AddressPolicy {
    /// Public addresses only, unless loopback (`latchkey dev`, tests) or private ranges (a
    /// deployment's own network) are opened.
    pub const fn new(allow_loopback: bool, allow_private: bool) -> Self {
        Self {
            allow_loopback,
            allow_private,
        }
    }

    pub fn check(self, address: IpAddr) -> Result<(), Refusal> {
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
        IpAddr::V6(v6) => match embedded_v4(v6) {
            // These forms reach (or are translated to) the IPv4 address: judge that.
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

/// The IPv4 address an IPv6 address carries, for every form that gets a packet to it: one unwrap,
/// so no form is judged by the IPv6 rules while it lands on an IPv4 host.
/// - IPv4-mapped `::ffff:a.b.c.d` (::ffff:0:0/96) and IPv4-translated `::ffff:0:a.b.c.d`
///   (::ffff:0:0:0/96, RFC 2765);
/// - IPv4-compatible `::a.b.c.d` (::/96, deprecated by RFC 4291 but still routed by some stacks),
///   except `::` and `::1`, which are IPv6's own unspecified and loopback addresses;
/// - NAT64, well-known prefix `64:ff9b::a.b.c.d` (64:ff9b::/96, RFC 6052);
/// - NAT64, local-use prefix 64:ff9b:1::/48 (RFC 8215) in RFC 6052's /48 layout: the IPv4 address
///   is bits 48..64 and 72..88; bits 64..72 are the `u` octet and the rest a suffix, both ignored;
/// - 6to4 `2002:AABB:CCDD::/48` (RFC 3056): the IPv4 address is bits 16..48.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let v4 = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    match v6.segments() {
        [0, 0, 0, 0, 0, 0xffff, high, low] | [0, 0, 0, 0, 0xffff, 0, high, low] => Some(v4(high, low)),
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => None,
        [0, 0, 0, 0, 0, 0, high, low] => Some(v4(high, low)),
        [0x0064, 0xff9b, 0, 0, 0, 0, high, low] => Some(v4(high, low)),
        [0x0064, 0xff9b, 0x0001, high, u_and_third, fourth_and_suffix, ..] => {
            let [_u, third] = u_and_third.to_be_bytes();
            let [fourth, _suffix] = fourth_and_suffix.to_be_bytes();
            Some(v4(high, u16::from_be_bytes([third, fourth])))
        }
        [0x2002, high, low, ..] => Some(v4(high, low)),
        _ => None,
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

/// An IPv6 address that carries no IPv4 address ([`embedded_v4`] found none).
fn classify_v6(v6: Ipv6Addr) -> Class {
    let [first, second, ..] = v6.segments();
    if v6.is_loopback() {
        Class::Loopback
    } else if v6.is_unspecified()
        || v6.is_multicast()
        || (first == 0x2001 && second == 0x0db8)
        // The rest of 64:ff9b::/32 beside the two NAT64 prefixes: assigned to nothing.
        || (first == 0x0064 && second == 0xff9b)
    {
        Class::Unroutable
    } else if (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80 || (first & 0xffc0) == 0xfec0 {
        Class::Private
    } else {
        Class::Public
    }
}

/// The client's resolver: the system's, then the policy. A name with no acceptable address fails
/// to resolve, which the client reports as a connection error that [`refusal_of`] recognises.
struct VettingResolver {
    policy: AddressPolicy,
}

/// A resolution the policy refused: it carries the rule, and neither the name's addresses nor
/// the name (reqwest and hyper may log or print the error chain).
#[derive(Debug)]
struct RefusedAddress(Refusal);

impl std::fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.recorded())
    }
}

impl std::error::Error for RefusedAddress {}

impl Resolve for VettingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let mut refusal = None;
            let mut vetted = Vec::with_capacity(resolved.len());
            for address in resolved {
                match policy.check(address.ip()) {
                    Ok(()) => vetted.push(address),
                    Err(refused) => {
                        refusal.get_or_insert(refused);
                    }
                }
            }
            match refusal {
                Some(refusal) if vetted.is_empty() => Err(Box::new(RefusedAddress(refusal)) as _),
                _ => Ok(Box::new(vetted.into_iter()) as Addrs),
            }
        })
    }
}

/// The rule that refused a client error's destination, when the address policy did.
pub fn refusal_of(error: &reqwest::Error) -> Option<Refusal> {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(current) = source {
        if let Some(RefusedAddress(refusal)) = current.downcast_ref::<RefusedAddress>() {
            return Some(*refusal);
        }
        source = current.source();
    }
    None
}

/// A client builder that reaches only what `policy` allows: the vetting resolver, no redirects
/// (a redirect could point anywhere), no proxy. The caller adds its timeouts and user agent.
pub fn client_builder(policy: AddressPolicy) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(VettingResolver { policy }))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
}

/// Checks a URL's host when it is a literal address (names are vetted when resolved).
pub fn check_literal_host(policy: AddressPolicy, url: &reqwest::Url) -> Result<(), Refusal> {
    let host = url.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(address) => policy.check(address),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests;
