//! The cache of authenticated API keys, indexed by the SHA-256 of the secret (the secret itself is
//! never stored). An entry lives until its TTL runs out or the key's `api_key.deleted` event
//! arrives, whichever is first, and the cache is off while that event feed may be missing events:
//! a deleted key would otherwise keep working until its TTL ran out (see `ttl_cache`).

use sha2::{Digest, Sha256};

use crate::{
    principal::{Principal, ServiceCaller},
    ttl_cache::TtlCache,
};

/// Authenticated keys by secret hash.
pub(crate) type KeyCache = TtlCache<SecretHash, Principal>;

/// Authenticated service API keys by secret hash (the service API's callers): the same rules, a
/// feed of their own (`service_key.*`).
pub(crate) type ServiceKeyCache = TtlCache<SecretHash, ServiceCaller>;

/// The cache key for a secret: its SHA-256. Kept as bytes, not the hex of the `secret_hash` that
/// `api_key.deleted` carries, so a lookup on the hot path neither formats nor allocates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SecretHash([u8; 32]);

impl SecretHash {
    pub(crate) fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// The hash an `api_key.deleted` event names in hex; `None` if it is not 64 hex digits.
    pub(crate) fn from_hex(hex_digest: &str) -> Option<Self> {
        let mut bytes = [0_u8; 32];
        hex::decode_to_slice(hex_digest, &mut bytes).ok()?;
        Some(Self(bytes))
    }
}

impl KeyCache {
    /// Drops every entry of the key `key_id` (it was deleted).
    pub(crate) fn forget_key(&self, key_id: &str) {
        self.forget_where(|principal| &*principal.api_key_id == key_id);
    }
}

impl ServiceKeyCache {
    /// Drops every entry of the service key `key_id` (it was deleted).
    pub(crate) fn forget_service_key(&self, key_id: &str) {
        self.forget_where(|caller| &*caller.actor == key_id);
    }
}

#[cfg(test)]
mod tests;
