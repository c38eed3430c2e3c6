//! What a new certificate may be: the checks of a creation request, each naming its field as the
//! REST API spells it (`name`, `algorithm`, `expiresAt`, `metadata`), all reported at once. Pure:
//! the time is given.

use std::collections::BTreeMap;

use chrono::{DateTime, Months, Utc};
use latchkey_errors::{ApiError, FieldError};

use super::keys::Algorithm;
use crate::AgentTokenError;

/// The longest name, in characters (as API keys' and agents' names).
pub const MAX_NAME_CHARS: usize = 100;
/// The most metadata entries a certificate carries.
pub const MAX_METADATA_ENTRIES: usize = 20;
/// The longest metadata name, in characters.
pub const MAX_METADATA_KEY_CHARS: usize = 64;
/// The longest metadata value, in characters.
pub const MAX_METADATA_VALUE_CHARS: usize = 500;
/// A certificate without `expiresAt` expires this many calendar months after its creation.
pub const DEFAULT_LIFETIME_MONTHS: u32 = 12;
/// `expiresAt` may be at most this many calendar months away.
pub const MAX_LIFETIME_MONTHS: u32 = 60;
/// The most certificates (active and revoked) an account holds: each creation costs a key
/// generation, and the JWKS lists every active one.
pub const MAX_CERTIFICATES: i64 = 100;

/// A creation request as the caller sent it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewCertificate {
    pub name: String,
    /// Empty for the default, RS256.
    pub algorithm: String,
    /// RFC 3339; empty for the default lifetime.
    pub expires_at: String,
    pub metadata: BTreeMap<String, String>,
}

/// A creation request that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ValidCertificate {
    pub(crate) name: String,
    pub(crate) algorithm: Algorithm,
    pub(crate) expires_at_ms: i64,
    pub(crate) metadata: BTreeMap<String, String>,
}

impl NewCertificate {
    /// Checks every field at `now_ms`, naming each at fault.
    pub(crate) fn validated(self, now_ms: i64) -> Result<ValidCertificate, AgentTokenError> {
        let mut errors = Vec::new();
        let name = self.name.trim().to_owned();
        if name.is_empty() {
            errors.push(FieldError::new("name", "is required"));
        } else if name.chars().count() > MAX_NAME_CHARS {
            errors.push(FieldError::new(
                "name",
                format!("must be at most {MAX_NAME_CHARS} characters"),
            ));
        } else if name.chars().any(char::is_control) {
            errors.push(FieldError::new("name", "must not contain control characters"));
        }
        let algorithm = match self.algorithm.as_str() {
            "" => Some(Algorithm::Rs256),
            given => Algorithm::parse(given),
        };
        if algorithm.is_none() {
            errors.push(FieldError::new(
                "algorithm",
                "must be one of RS256, RS384, RS512, ES256, EdDSA",
            ));
        }
        let expires_at_ms = expiry(&self.expires_at, now_ms).unwrap_or_else(|error| {
            errors.push(error);
            0
        });
        check_metadata(&self.metadata, &mut errors);
        match algorithm {
            Some(algorithm) if errors.is_empty() => Ok(ValidCertificate {
                name,
                algorithm,
                expires_at_ms,
                metadata: self.metadata,
            }),
            _ => Err(AgentTokenError::Invalid(ApiError::validation(errors))),
        }
    }
}

fn months_after(now_ms: i64, months: u32) -> Option<i64> {
    DateTime::<Utc>::from_timestamp_millis(now_ms)?
        .checked_add_months(Months::new(months))
        .map(|time| time.timestamp_millis())
}

/// `expiresAt` in Unix milliseconds: the default lifetime when empty, else an RFC 3339 time after
/// `now_ms` and no further than the longest lifetime.
fn expiry(expires_at: &str, now_ms: i64) -> Result<i64, FieldError> {
    let error = |message: String| FieldError::new("expiresAt", message);
    let latest = months_after(now_ms, MAX_LIFETIME_MONTHS).unwrap_or(i64::MAX);
    if expires_at.is_empty() {
        return months_after(now_ms, DEFAULT_LIFETIME_MONTHS)
            .ok_or_else(|| error("has no default at this time".to_owned()));
    }
    let expires_at_ms = DateTime::parse_from_rfc3339(expires_at)
        .map_err(|_| error("must be an RFC 3339 date-time such as 2027-03-01T00:00:00.000Z".to_owned()))?
        .timestamp_millis();
    if expires_at_ms <= now_ms {
        return Err(error("must be in the future".to_owned()));
    }
    if expires_at_ms > latest {
        return Err(error(format!(
            "must be at most {} years from now",
            MAX_LIFETIME_MONTHS / 12
        )));
    }
    Ok(expires_at_ms)
}

/// A metadata name fit to appear in a field path (`metadata.team`); others are reported on
/// `metadata` itself.
fn entry_field(key: &str) -> String {
    let printable = key.chars().count() <= MAX_METADATA_KEY_CHARS
        && !key.is_empty()
        && key.chars().all(|c| !c.is_control() && !c.is_whitespace());
    if printable {
        format!("metadata.{key}")
    } else {
        "metadata".to_owned()
    }
}

fn check_metadata(metadata: &BTreeMap<String, String>, errors: &mut Vec<FieldError>) {
    if metadata.len() > MAX_METADATA_ENTRIES {
        errors.push(FieldError::new(
            "metadata",
            format!("must have at most {MAX_METADATA_ENTRIES} entries"),
        ));
        return;
    }
    for (key, value) in metadata {
        if key.trim().is_empty() || key.chars().count() > MAX_METADATA_KEY_CHARS {
            errors.push(FieldError::new(
                "metadata",
                format!("names must be 1 to {MAX_METADATA_KEY_CHARS} characters, not blank"),
            ));
        } else if key.chars().any(char::is_control) {
            errors.push(FieldError::new("metadata", "names must not contain control characters"));
        } else if value.chars().count() > MAX_METADATA_VALUE_CHARS {
            errors.push(FieldError::new(
                entry_field(key),
                format!("must be at most {MAX_METADATA_VALUE_CHARS} characters"),
            ));
        } else if value.chars().any(char::is_control) {
            errors.push(FieldError::new(entry_field(key), "must not contain control characters"));
        }
    }
}

#[cfg(test)]
mod tests;
