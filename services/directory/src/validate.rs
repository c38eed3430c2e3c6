//! What each field may hold. Every check names the field at fault, as the REST body spells it, so
//! the gateway passes the error on unchanged.

use crate::DirectoryError;

/// Slugs: 1 to 64 of `a-z`, `0-9` and `-`, starting and ending with a letter or digit (they appear
/// in paths, so nothing needs escaping).
pub(crate) const MAX_SLUG_LEN: usize = 64;
pub(crate) const MAX_NAME_LEN: usize = 128;
pub(crate) const MAX_DESCRIPTION_LEN: usize = 1024;
pub(crate) const MAX_REDIRECT_URIS: usize = 20;
pub(crate) const MAX_PROVIDERS: usize = 50;
pub(crate) const MAX_SCOPES: usize = 100;
pub(crate) const MAX_SCOPE_LEN: usize = 256;
/// RFC 5321's limit on a path (254 usable characters), and 64 for the local part.
pub(crate) const MAX_EMAIL_LEN: usize = 254;
pub(crate) const MAX_PLAN_ID_LEN: usize = 128;
/// The most a list answers in one page, and what it answers when no limit is given.
pub(crate) const MAX_PAGE: u32 = 100;
pub(crate) const DEFAULT_PAGE: u32 = 50;
/// Offsets past this are refused rather than scanned.
pub(crate) const MAX_OFFSET: u64 = 1_000_000_000;

fn printable(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

/// Whether `text` is a slug (the gateway's document states it as a pattern, held to this).
pub fn is_slug(text: &str) -> bool {
    let bytes = text.as_bytes();
    (1..=MAX_SLUG_LEN).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
}

pub(crate) fn slug(field: &str, slug: &str) -> Result<(), DirectoryError> {
    if is_slug(slug) {
        Ok(())
    } else {
        Err(DirectoryError::field(
            field,
            "1 to 64 of a-z, 0-9 and `-`, starting and ending with a letter or digit",
        ))
    }
}

/// A display name: 1 to 128 characters, not only spaces, no control characters. Answers it trimmed.
pub(crate) fn name(field: &str, name: &str) -> Result<String, DirectoryError> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_NAME_LEN || !printable(trimmed) {
        return Err(DirectoryError::field(
            field,
            "1 to 128 characters, no control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

/// A user's name: like [`name`] but may be empty.
pub(crate) fn optional_name(field: &str, text: &str) -> Result<String, DirectoryError> {
    if text.trim().is_empty() {
        return Ok(String::new());
    }
    name(field, text)
}

pub(crate) fn description(text: &str) -> Result<String, DirectoryError> {
    let fits =
        text.chars().count() <= MAX_DESCRIPTION_LEN && !text.chars().any(|c| c.is_control() && c != '\n' && c != '\t');
    if fits {
        Ok(text.trim().to_owned())
    } else {
        Err(DirectoryError::field(
            "description",
            "at most 1024 characters, no control characters but newlines and tabs",
        ))
    }
}

pub(crate) const SERVICE_TYPES: [&str; 4] = ["web", "api", "mobile", "desktop"];

pub(crate) fn service_type(text: &str) -> Result<String, DirectoryError> {
    if SERVICE_TYPES.contains(&text) {
        Ok(text.to_owned())
    } else {
        Err(DirectoryError::field(
            "service_type",
            "one of web, api, mobile, desktop",
        ))
    }
}

/// Redirect URIs a service registers: at most 20, distinct, each an `https` URL or `http` on a
/// loopback host, without userinfo or fragment (the rule the oauth service applies to sessions).
pub(crate) fn redirect_uris(uris: &[String]) -> Result<Vec<String>, DirectoryError> {
    if uris.len() > MAX_REDIRECT_URIS {
        return Err(DirectoryError::field("redirect_uris", "at most 20"));
    }
    for (index, uri) in uris.iter().enumerate() {
        if let Some(fault) = latchkey_server::redirect_uri::fault(uri) {
            return Err(DirectoryError::field(&format!("redirect_uris[{index}]"), fault));
        }
        if uris[..index].contains(uri) {
            return Err(DirectoryError::field(
                &format!("redirect_uris[{index}]"),
                "listed twice",
            ));
        }
    }
    Ok(uris.to_vec())
}

/// Provider codes as the oauth catalogue writes them: 1 to 64 of `a-z`, `0-9`, `_` and `-`.
pub(crate) fn provider_code(field: &str, code: &str) -> Result<(), DirectoryError> {
    let well_formed = (1..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if well_formed {
        Ok(())
    } else {
        Err(DirectoryError::field(
            field,
            "a provider code: 1 to 64 of a-z, 0-9, `_` and `-`",
        ))
    }
}

pub(crate) fn providers(codes: &[String]) -> Result<Vec<String>, DirectoryError> {
    if codes.len() > MAX_PROVIDERS {
        return Err(DirectoryError::field("allowed_providers", "at most 50"));
    }
    for (index, code) in codes.iter().enumerate() {
        provider_code(&format!("allowed_providers[{index}]"), code)?;
    }
    Ok(deduplicated(codes))
}

/// One OAuth scope: 1 to 256 printable ASCII characters without spaces, `"` or `\` (RFC 6749 §3.3).
pub(crate) fn scope(field: &str, scope: &str) -> Result<(), DirectoryError> {
    let well_formed = (1..=MAX_SCOPE_LEN).contains(&scope.len())
        && scope
            .bytes()
            .all(|b| (b'!'..=b'~').contains(&b) && b != b'"' && b != b'\\');
    if well_formed {
        Ok(())
    } else {
        Err(DirectoryError::field(
            field,
            "1 to 256 printable ASCII characters without spaces, `\"` or `\\`",
        ))
    }
}

pub(crate) fn scopes(field: &str, scopes: &[String]) -> Result<Vec<String>, DirectoryError> {
    if scopes.len() > MAX_SCOPES {
        return Err(DirectoryError::field(field, "at most 100"));
    }
    for (index, one) in scopes.iter().enumerate() {
        scope(&format!("{field}[{index}]"), one)?;
    }
    Ok(deduplicated(scopes))
}

fn deduplicated(items: &[String]) -> Vec<String> {
    let mut seen = Vec::with_capacity(items.len());
    for item in items {
        if !seen.contains(item) {
            seen.push(item.clone());
        }
    }
    seen
}

/// An email address as people type it: `local@domain`, at most 254 characters, a local part of
/// 1 to 64 printable characters without spaces, and a domain of dot-separated labels of letters,
/// digits and `-` with at least one dot. Answers it with the domain lowercased; uniqueness in a
/// service ignores case altogether ([`email_key`]).
pub(crate) fn email(text: &str) -> Result<String, DirectoryError> {
    let invalid = || DirectoryError::field("email", "an email address (local@example.com), at most 254 characters");
    // Outer spaces are a typing slip; a newline or other control character is not an address.
    if text.chars().any(char::is_control) {
        return Err(invalid());
    }
    let text = text.trim_matches(' ');
    if text.len() > MAX_EMAIL_LEN {
        return Err(invalid());
    }
    let Some((local, domain)) = text.rsplit_once('@') else {
        return Err(invalid());
    };
    let local_ok = (1..=64).contains(&local.len())
        && local.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(
                    b,
                    b'@' | b'"' | b'\\' | b'(' | b')' | b',' | b':' | b';' | b'<' | b'>' | b'[' | b']'
                )
        })
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if local_ok && domain_ok {
        Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
    } else {
        Err(invalid())
    }
}

/// What makes two emails the same user of a service: the address lowercased.
pub(crate) fn email_key(email: &str) -> String {
    email.to_ascii_lowercase()
}

/// Whether `text` is a plan id: 1 to 128 of letters, digits, `_`, `-`, `.` and `:` (the service's
/// own plan names).
pub fn is_plan_id(text: &str) -> bool {
    (1..=MAX_PLAN_ID_LEN).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

pub(crate) fn plan_id(text: &str) -> Result<(), DirectoryError> {
    if is_plan_id(text) {
        Ok(())
    } else {
        Err(DirectoryError::field(
            "plan_id",
            "1 to 128 of letters, digits, `_`, `-`, `.` and `:`",
        ))
    }
}

/// A page: `limit` 1 to 100 (absent: the default, 50) and `offset` at most 10⁹.
pub(crate) fn page(limit: Option<u32>, offset: u64) -> Result<(i64, i64), DirectoryError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(DirectoryError::field("limit", "1 to 100"));
    }
    if offset > MAX_OFFSET {
        return Err(DirectoryError::field("offset", "at most 1000000000"));
    }
    Ok((i64::from(limit), i64::try_from(offset).unwrap_or(i64::MAX)))
}

#[cfg(test)]
mod tests;
