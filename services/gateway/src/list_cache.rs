//! Rendered `GET /v1/api-keys` pages, per account. Listing keys is the hottest authenticated read
//! and its answer changes only when a key is created or deleted, so the gateway keeps the JSON it
//! last rendered and serves it again without a gRPC call or a database query.
//!
//! Freshness follows the key cache's rules (see `key_cache`): an account's page is dropped when an
//! `api_key.created` or `api_key.deleted` event for it arrives, or when this gateway creates or
//! deletes one of its keys itself (so the caller's next list already shows the change); the cache is
//! trusted only while that event feed is live (emptied when it goes down and again when it comes
//! back); and an entry lives at most the configured TTL, which
//! bounds how stale `last_used_at` (written by agent-token when it authenticates a key) can be.

use std::{
    collections::HashMap,
    sync::{
        PoisonError, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;

struct Entry {
    body: Bytes,
    expires_at: Instant,
}

/// Rendered key lists by account id.
pub(crate) struct ListCache {
    ttl: Duration,
    entries: RwLock<HashMap<String, Entry>>,
    /// Bumped by every invalidation: a page rendered from an answer asked for before an
    /// invalidation may predate the change, so it is not kept.
    generation: AtomicU64,
    live: AtomicBool,
}

impl ListCache {
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

    /// The page cached for `account`, if fresh.
    pub(crate) fn lookup(&self, account: &str) -> Option<Bytes> {
        self.lookup_at(account, Instant::now())
    }

    fn lookup_at(&self, account: &str, now: Instant) -> Option<Bytes> {
        if !self.usable() {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(account)
            .filter(|entry| entry.expires_at > now)
            .map(|entry| entry.body.clone())
    }

    /// The generation to pass to [`Self::remember`]; read it before asking agent-token.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `body` as `account`'s page unless an invalidation happened since `seen_generation`.
    pub(crate) fn remember(&self, account: &str, body: Bytes, seen_generation: u64) {
        if !self.usable() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if self.generation.load(Ordering::Acquire) != seen_generation {
            return;
        }
        let expires_at = Instant::now() + self.ttl;
        entries.insert(account.to_owned(), Entry { body, expires_at });
    }

    /// Drops `account`'s page: one of its keys was created or deleted.
    pub(crate) fn forget(&self, account: &str) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(account);
    }

    /// Marks the event feed live or not. Either way the cache empties and a page rendered from an
    /// answer asked for before is not kept (see `key_cache`).
    pub(crate) fn set_live(&self, live: bool) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        self.live.store(live, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    /// Removes expired pages.
    pub(crate) fn sweep(&self) {
        let now = Instant::now();
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|_, entry| entry.expires_at > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live_cache() -> ListCache {
        let cache = ListCache::new(Duration::from_secs(5));
        cache.set_live(true);
        cache
    }

    #[test]
    fn a_page_is_served_until_its_account_changes() {
        let cache = live_cache();
        cache.remember("acct_a", Bytes::from_static(b"[a]"), cache.generation());
        cache.remember("acct_b", Bytes::from_static(b"[b]"), cache.generation());
        assert_eq!(cache.lookup("acct_a").as_deref(), Some(&b"[a]"[..]));
        cache.forget("acct_a");
        assert!(cache.lookup("acct_a").is_none());
        assert_eq!(cache.lookup("acct_b").as_deref(), Some(&b"[b]"[..]));
    }

    #[test]
    fn a_page_rendered_before_a_change_is_not_kept() {
        let cache = live_cache();
        let seen = cache.generation();
        cache.forget("acct_a");
        cache.remember("acct_a", Bytes::from_static(b"[stale]"), seen);
        assert!(cache.lookup("acct_a").is_none());
    }

    #[test]
    fn nothing_is_kept_or_served_while_the_feed_is_down() {
        let cache = live_cache();
        cache.remember("acct_a", Bytes::from_static(b"[a]"), cache.generation());
        cache.set_live(false);
        assert!(cache.lookup("acct_a").is_none());
        cache.remember("acct_a", Bytes::from_static(b"[a]"), cache.generation());
        cache.set_live(true);
        assert!(cache.lookup("acct_a").is_none());
    }

    #[test]
    fn a_page_rendered_while_the_feed_was_down_is_not_kept_once_it_is_back() {
        let cache = live_cache();
        cache.set_live(false);
        let rendered_while_down = cache.generation();
        cache.set_live(true);
        cache.remember("acct_a", Bytes::from_static(b"[stale]"), rendered_while_down);
        assert!(cache.lookup("acct_a").is_none());
    }

    #[test]
    fn a_page_expires() {
        let cache = live_cache();
        cache.remember("acct_a", Bytes::from_static(b"[a]"), cache.generation());
        assert!(
            cache
                .lookup_at("acct_a", Instant::now() + Duration::from_secs(6))
                .is_none()
        );
    }

    #[test]
    fn a_zero_ttl_turns_it_off() {
        let cache = ListCache::new(Duration::ZERO);
        cache.set_live(true);
        cache.remember("acct_a", Bytes::from_static(b"[a]"), cache.generation());
        assert!(cache.lookup("acct_a").is_none());
    }
}
