//! Where a proxied request goes: the path below the service's base URL, checked so that it can
//! never leave it, and the template the audit log records instead of the path itself.

use reqwest::Url;

/// Why a path cannot be proxied.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BadPath(pub(crate) &'static str);

/// A dot segment in any spelling the URL standard reads as one (`..`, `.%2e`, `%2E%2e`, …).
fn is_dot_segment(segment: &str) -> bool {
    let lowered = segment.to_ascii_lowercase().replace("%2e", ".");
    lowered == "." || lowered == ".."
}

/// The provider URL for `raw_path` (as the client sent it, percent-encoded) and `raw_query` below
/// `base`. No segment may be a dot segment and no backslash may appear (both would let the URL
/// parser climb above the base path); the result is checked to be below the base all the same.
pub(crate) fn target(base: &str, raw_path: &str, raw_query: Option<&str>) -> Result<Url, BadPath> {
    if raw_path.contains('\\') || raw_path.to_ascii_lowercase().contains("%5c") {
        return Err(BadPath("must not contain a backslash"));
    }
    if raw_path.split('/').any(is_dot_segment) {
        return Err(BadPath("must not contain `.` or `..` segments"));
    }
    let base_url = Url::parse(base).map_err(|_| BadPath("the catalogue's api_base_url is not a URL"))?;
    let mut joined = format!("{}/{}", base.trim_end_matches('/'), raw_path);
    if let Some(query) = raw_query.filter(|query| !query.is_empty()) {
        joined.push('?');
        joined.push_str(query);
    }
    let url = Url::parse(&joined).map_err(|_| BadPath("is not a valid URL path"))?;
    let base_path = base_url.path().trim_end_matches('/');
    let below = url.path() == base_path || url.path().starts_with(&format!("{base_path}/"));
    let same_origin = url.scheme() == base_url.scheme()
        && url.host_str() == base_url.host_str()
        && url.port_or_known_default() == base_url.port_or_known_default();
    if !below || !same_origin || url.username() != "" || url.password().is_some() {
        return Err(BadPath("must stay below the service's base URL"));
    }
    Ok(url)
}

/// The path as the audit log keeps it: words stay (`user/repos`), every other segment (numbers,
/// ids, names with digits, anything encoded) becomes `{id}`, so the log groups calls without
/// keeping what the agent looked up.
pub(crate) fn template(raw_path: &str) -> String {
    let word = |segment: &str| {
        (1..=32).contains(&segment.len())
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'-')
    };
    raw_path
        .split('/')
        .filter(|segment| !segment.is_empty())
        .map(|segment| if word(segment) { segment } else { "{id}" })
        .collect::<Vec<_>>()
        .join("/")
}
