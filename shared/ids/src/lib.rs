//! Typed identifiers. Every id Latchkey mints is `prefix_` followed by 16 characters of a lowercase
//! base32 alphabet without ambiguous letters (80 random bits): short, safe in URLs, NATS subjects and
//! log lines. Each kind of id is its own type (`AccountId`, `AgentId`, …), so a function that needs an
//! account cannot be handed an agent; an id is parsed once where it enters (a gRPC field, a REST path)
//! and carried typed from there.
//!
//! Parsing accepts every id Latchkey has ever minted: the right prefix, then 1 to 64 characters of
//! lowercase letters, digits and `_` (webhook ids minted before this crate carry a UUIDv7 in hex). What
//! it refuses is what must never reach a query or a subject: another kind's prefix, wildcards (`*`,
//! `>`), dots, spaces, upper case and overlong input.

mod kinds;

pub use kinds::*;

/// The alphabet new ids draw from: digits and lowercase letters without `i`, `l`, `o`, `u`.
pub const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Random characters in a new id.
pub const RANDOM_LEN: usize = 16;
/// The longest body (after `prefix_`) an id may have.
pub const MAX_BODY_LEN: usize = 64;

/// The account the deployment's own secrets live in (agent-token's signing keys, the audit
/// checkpoint keys). It cannot be minted (no `acct_` prefix), so it is never a real account's, and it
/// parses as an [`AccountId`] so the services that keep those secrets can name it.
pub const SYSTEM_ACCOUNT: &str = "_system";

/// Why a string is not an id of the kind asked for. It names the kind and never echoes the input,
/// which may be anything a caller sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("an id is required")]
    Empty,
    #[error("not a {kind} id: it must start with `{prefix}_`")]
    WrongPrefix { kind: &'static str, prefix: &'static str },
    #[error("not a {kind} id: at most {MAX_BODY_LEN} lowercase letters, digits or `_` after `{prefix}_`")]
    Malformed { kind: &'static str, prefix: &'static str },
}

/// A new id body: [`RANDOM_LEN`] characters of [`ALPHABET`].
pub fn random_body() -> String {
    use rand::RngExt;
    let mut rng = rand::rng();
    (0..RANDOM_LEN)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A new id with `prefix`, for kinds minted without a type of their own.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", random_body())
}

/// Checks `text` is `prefix_` and a well-formed body; `kind` names the id in the error.
pub fn check(text: &str, prefix: &'static str, kind: &'static str) -> Result<(), IdError> {
    if text.is_empty() {
        return Err(IdError::Empty);
    }
    let body = text
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .ok_or(IdError::WrongPrefix { kind, prefix })?;
    let well_formed = !body.is_empty()
        && body.len() <= MAX_BODY_LEN
        && body
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if well_formed {
        Ok(())
    } else {
        Err(IdError::Malformed { kind, prefix })
    }
}

/// Defines a typed id: `define_id!(AccountId, "acct", "account")` makes `AccountId`, minted with
/// `AccountId::new()`, parsed with `"acct_…".parse()` or `AccountId::try_from(string)`, shown and
/// serialised as its text.
#[macro_export]
macro_rules! define_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $crate::define_id!($(#[$meta])* $name, $prefix, $kind, also []);
    };
    ($(#[$meta:meta])* $name:ident, $prefix:literal, $kind:literal, also [$($reserved:expr),*]) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with (before the `_`).
            pub const PREFIX: &'static str = $prefix;
            /// What the id names, for error messages.
            pub const KIND: &'static str = $kind;

            /// A new random id.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self(format!("{}_{}", $prefix, $crate::random_body()))
            }

            /// Parses `text`, refusing anything that is not an id of this kind.
            pub fn parse(text: &str) -> Result<Self, $crate::IdError> {
                Self::check(text)?;
                Ok(Self(text.to_owned()))
            }

            fn check(text: &str) -> Result<(), $crate::IdError> {
                if [$($reserved),*].contains(&text) {
                    return Ok(());
                }
                $crate::check(text, $prefix, $kind)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::IdError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = $crate::IdError;
            fn try_from(text: &str) -> Result<Self, Self::Error> {
                Self::parse(text)
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::IdError;
            fn try_from(text: String) -> Result<Self, Self::Error> {
                Self::check(&text)?;
                Ok(Self(text))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.0, f)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::try_from(text).map_err(serde::de::Error::custom)
            }
        }
    };
}

#[cfg(test)]
mod tests;
