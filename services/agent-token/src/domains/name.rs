//! What a claimable domain name is, and which names a verified domain vouches for. Pure: no I/O.
//!
//! A claim is taken in ASCII only: an internationalized name is sent in its A-label (`xn--…`,
//! punycode) form, which is what DNS holds anyway, so nothing here depends on a Unicode mapping
//! table. The name is lowercased and one trailing dot (the root) is dropped.

/// The longest name DNS carries in text form, without the trailing dot (RFC 1035 §2.3.4).
pub const MAX_DOMAIN_CHARS: usize = 253;
/// The longest label (RFC 1035 §2.3.4).
const MAX_LABEL_CHARS: usize = 63;

/// The name in its one stored form (lowercase, no trailing dot), or why it cannot be claimed, as
/// a message for the `domain` field.
pub fn normalize(input: &str) -> Result<String, &'static str> {
    if input.is_empty() {
        return Err("is required");
    }
    if !input.is_ascii() {
        return Err("must be ASCII: send an internationalized name in its xn-- (punycode) form");
    }
    let name = input.strip_suffix('.').unwrap_or(input).to_ascii_lowercase();
    if name.contains('*') {
        return Err("must be a domain name, not a wildcard");
    }
    if name.contains(':') || name.contains('[') {
        return Err("must be a domain name, not an IP address");
    }
    if name.len() > MAX_DOMAIN_CHARS {
        return Err("must be at most 253 characters");
    }
    let labels: Vec<&str> = name.split('.').collect();
    for label in &labels {
        if label.is_empty() {
            return Err("must not have an empty label (a leading dot, `..`, or a lone dot)");
        }
        if label.len() > MAX_LABEL_CHARS {
            return Err("labels must be 1 to 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("may hold only letters, digits, hyphens and dots");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("labels must not start or end with a hyphen");
        }
    }
    if labels.len() < 2 {
        return Err("must have at least two labels, e.g. example.com");
    }
    // Every top-level domain starts with a letter (alphabetic ones, and `xn--` for internationalized
    // ones; RFC 1123 §2.1, RFC 3696 §2). This also keeps out IPv4 addresses in every form resolvers
    // accept (`1.2.3.4`, `127.1`, `0x7f.0.0.1`).
    if labels
        .last()
        .is_some_and(|tld| !tld.starts_with(|c: char| c.is_ascii_lowercase()))
    {
        return Err("must end in a top-level domain starting with a letter (an IP address is not a domain)");
    }
    if name == "localhost" || name.ends_with(".localhost") {
        return Err("must not be localhost (RFC 6761)");
    }
    Ok(name)
}

/// True when `domain` (a stored, verified domain) vouches for `host`: `host` is the domain itself
/// or a name under it. `host` may be in any case and end with a dot; `example.com` covers
/// `api.example.com` but not `badexample.com`.
pub(crate) fn covers(domain: &str, host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.len() < domain.len() {
        return false;
    }
    let (head, tail) = host.split_at(host.len() - domain.len());
    tail.eq_ignore_ascii_case(domain) && (head.is_empty() || head.ends_with('.'))
}

/// The domain an agent's `owner` names, if it names one: the part after the last `@` of an email
/// address, or the owner itself when it is a domain name. `engineering` names none.
pub(crate) fn owner_domain(owner: &str) -> Option<String> {
    let owner = owner.trim();
    let candidate = match owner.rsplit_once('@') {
        Some((_, domain)) => domain,
        None => owner,
    };
    normalize(candidate).ok()
}

#[cfg(test)]
mod tests;
