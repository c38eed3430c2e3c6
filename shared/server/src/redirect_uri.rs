//! What may be a redirect URI that no list allows explicitly (RFC 8252 §7.3 and §8.4): the rule the
//! oauth service applies to sessions of an account without a list, and the directory to the URIs a
//! service registers.

use url::{Host, Url};

/// The longest redirect URI accepted, in bytes.
pub const MAX_LEN: usize = 2048;

/// Why `uri` may not be a session's redirect URI when the account keeps no list: it must be an
/// absolute `https` URL, or `http` on a loopback host (127.0.0.0/8, `[::1]`, `localhost`), written
/// out (`scheme://host…`) without spaces or control characters, without userinfo or fragment, at
/// most [`MAX_LEN`] bytes.
pub fn fault(uri: &str) -> Option<&'static str> {
    if uri.len() > MAX_LEN {
        return Some("at most 2048 characters");
    }
    // The URL parser drops tabs, newlines and outer spaces silently: refuse them before it does.
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("no spaces or control characters");
    }
    let lower = uri.get(..8).unwrap_or(uri).to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return Some("an absolute https URL (or http on 127.0.0.1, [::1] or localhost)");
    }
    let Ok(url) = Url::parse(uri) else {
        return Some("an absolute https URL (or http on 127.0.0.1, [::1] or localhost)");
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Some("a redirect URI has no userinfo (user:password@)");
    }
    if url.fragment().is_some() {
        return Some("a redirect URI has no fragment");
    }
    let loopback = match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        None => return Some("a redirect URI names a host"),
    };
    match url.scheme() {
        "https" => None,
        "http" if loopback => None,
        _ => Some("http only on a loopback host (127.0.0.1, [::1], localhost); https anywhere else"),
    }
}
