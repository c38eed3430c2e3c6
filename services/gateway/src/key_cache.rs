//! The cache of authenticated API keys, indexed by the SHA-256 of the secret (the secret itself is
//! never stored). An entry lives until its TTL runs out or the key's `api_key.deleted` event
//! arrives, whichever is first, and the cache is off while that event feed may be missing events:
//! a deleted key would otherwise keep working until its TTL ran out (see `ttl_cache`).

use sha2::{Digest, Sha256};

use crate::{principal::Principal, ttl_cache::TtlCache};

/// Authenticated keys by secret hash.
pub(crate) type KeyCache = TtlCache<SecretHash, Principal>;

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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn principal(key: &str) -> Principal {
        Principal {
            account_id: latchkey_ids::AccountId::parse("acct_1").unwrap(),
            api_key_id: key.into(),
        }
    }

    #[test]
    fn the_hash_is_the_sha256_that_deletion_events_name_in_hex() {
        let from_event = SecretHash::from_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(from_event, Some(SecretHash::of("abc")));
        assert_eq!(SecretHash::from_hex("ba7816bf"), None);
        assert_eq!(SecretHash::from_hex(&"z".repeat(64)), None);
    }

    #[test]
    fn a_remembered_key_is_found_until_its_deletion() {
        let cache = KeyCache::new(Duration::from_secs(60));
        cache.set_live(true);
        cache.remember(SecretHash::of("h1"), principal("key_1"), cache.generation());
        cache.remember(SecretHash::of("h2"), principal("key_2"), cache.generation());
        let found = cache.lookup(&SecretHash::of("h1")).map(|p| p.api_key_id);
        assert_eq!(found.as_deref(), Some("key_1"));
        // Deleted as the event names it, by hash; or by id, as this gateway deletes it.
        cache.forget(&SecretHash::of("h1"));
        assert!(cache.lookup(&SecretHash::of("h1")).is_none());
        cache.forget_key("key_2");
        assert!(cache.lookup(&SecretHash::of("h2")).is_none());
    }
}
