//! The cache of authenticated API keys, indexed by the SHA-256 of the secret (the secret itself is
//! never stored). An entry lives until its TTL runs out or the key's `api_key.deleted` event
//! arrives, whichever is first.
//!
//! The cache is only trusted while the deletion feed is live (`latchkey_events::LiveFeed`): when
//! the subscription may be missing events (the NATS connection broke, or the subscription failed),
//! the cache is emptied and bypassed, because a deletion published meanwhile would be missed and a
//! deleted key would keep working until its TTL ran out. When the feed is current again the cache is
//! emptied once more, and answers asked for before that are not kept.

use std::{
    collections::HashMap,
    sync::{
        PoisonError, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};

use crate::auth::Principal;

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

struct Entry {
    principal: Principal,
    expires_at: Instant,
}

/// Authenticated keys by secret hash.
pub(crate) struct KeyCache {
    ttl: Duration,
    entries: RwLock<HashMap<SecretHash, Entry>>,
    /// Bumped (under the write lock) by every invalidation. An authentication that started before
    /// an invalidation must not cache its answer: the key may have been deleted while it was asked.
    generation: AtomicU64,
    /// Whether the deletion feed is live, so cached entries can be trusted.
    live: AtomicBool,
}

impl KeyCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            live: AtomicBool::new(false),
        }
    }

    fn usable(&self) -> bool {
        !self.ttl.is_zero() && self.live.load(Ordering::Acquire)
    }

    /// The principal cached for `hash`, if fresh.
    pub(crate) fn lookup(&self, hash: &SecretHash) -> Option<Principal> {
        self.lookup_at(hash, Instant::now())
    }

    fn lookup_at(&self, hash: &SecretHash, now: Instant) -> Option<Principal> {
        if !self.usable() {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(hash)
            .filter(|entry| entry.expires_at > now)
            .map(|entry| entry.principal.clone())
    }

    /// The generation to pass to [`Self::remember`]; read it before asking agent-token.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches `principal` unless an invalidation happened since `seen_generation` was read.
    pub(crate) fn remember(&self, hash: SecretHash, principal: Principal, seen_generation: u64) {
        if !self.usable() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if self.generation.load(Ordering::Acquire) != seen_generation {
            return;
        }
        let expires_at = Instant::now() + self.ttl;
        entries.insert(hash, Entry { principal, expires_at });
    }

    /// Drops the key whose secret hashes to `hash` (from an `api_key.deleted` event).
    pub(crate) fn forget_secret(&self, hash: &SecretHash) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(hash);
    }

    /// Drops every entry of the key `key_id` (this gateway just deleted it).
    pub(crate) fn forget_key(&self, key_id: &str) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|_, entry| &*entry.principal.api_key_id != key_id);
    }

    /// Marks the deletion feed live or not. Either way the cache empties, and an answer asked for
    /// before is not kept: going down, because deletions may be missed from now on; coming back,
    /// because some may have been missed meanwhile.
    pub(crate) fn set_live(&self, live: bool) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        self.live.store(live, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    /// Forgets every entry.
    pub(crate) fn clear(&self) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    /// Removes expired entries, so keys used once do not stay in memory.
    pub(crate) fn sweep(&self) {
        self.sweep_at(Instant::now());
    }

    fn sweep_at(&self, now: Instant) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|_, entry| entry.expires_at > now);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(key: &str) -> Principal {
        Principal {
            account_id: "acct_1".into(),
            api_key_id: key.into(),
        }
    }

    fn live_cache() -> KeyCache {
        let cache = KeyCache::new(Duration::from_secs(60));
        cache.set_live(true);
        cache
    }

    fn hash(secret: &str) -> SecretHash {
        SecretHash::of(secret)
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
        let cache = live_cache();
        cache.remember(hash("h1"), principal("key_1"), cache.generation());
        assert_eq!(cache.lookup(&hash("h1")).map(|p| p.api_key_id), Some("key_1".into()));
        cache.forget_secret(&hash("h1"));
        assert!(cache.lookup(&hash("h1")).is_none());
    }

    #[test]
    fn forgetting_a_key_id_drops_its_entries() {
        let cache = live_cache();
        cache.remember(hash("h1"), principal("key_1"), cache.generation());
        cache.remember(hash("h2"), principal("key_2"), cache.generation());
        cache.forget_key("key_1");
        assert!(cache.lookup(&hash("h1")).is_none());
        assert!(cache.lookup(&hash("h2")).is_some());
    }

    #[test]
    fn an_answer_that_raced_an_invalidation_is_not_cached() {
        let cache = live_cache();
        let seen = cache.generation();
        cache.forget_secret(&hash("h1"));
        cache.remember(hash("h1"), principal("key_1"), seen);
        assert!(cache.lookup(&hash("h1")).is_none());
    }

    #[test]
    fn nothing_is_cached_or_served_while_the_feed_is_down() {
        let cache = live_cache();
        cache.remember(hash("h1"), principal("key_1"), cache.generation());
        cache.set_live(false);
        assert_eq!(cache.len(), 0);
        cache.remember(hash("h1"), principal("key_1"), cache.generation());
        assert!(cache.lookup(&hash("h1")).is_none());
    }

    #[test]
    fn coming_back_live_drops_everything_and_keeps_no_answer_asked_for_before() {
        let cache = live_cache();
        cache.remember(hash("h1"), principal("key_1"), cache.generation());
        // Asked while the feed was down: a deletion published then may have been missed.
        cache.set_live(false);
        let asked_while_down = cache.generation();
        cache.set_live(true);
        cache.remember(hash("h2"), principal("key_2"), asked_while_down);
        assert!(cache.lookup(&hash("h2")).is_none());
        // Live again, and still live when it restarts: whatever it held is gone.
        cache.remember(hash("h1"), principal("key_1"), cache.generation());
        cache.set_live(true);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn expired_entries_are_not_served_and_are_swept() {
        let cache = live_cache();
        cache.remember(hash("h1"), principal("key_1"), cache.generation());
        let later = Instant::now() + Duration::from_secs(61);
        assert!(cache.lookup_at(&hash("h1"), later).is_none());
        cache.sweep_at(later);
        assert_eq!(cache.len(), 0);
    }
}
