//! The shape both gateway caches share (authenticated keys, rendered key lists): a map whose entries
//! live until their TTL runs out or an event says they changed, whichever is first.
//!
//! Such a cache is only trusted while its event feed is live (`latchkey_events::LiveFeed`): when
//! the subscription may be missing events (the NATS connection broke, or the subscription failed),
//! the cache is emptied and bypassed, because a change published meanwhile would be missed and a
//! stale entry (a deleted key, an old list) would be served until its TTL ran out. When the feed is
//! current again the cache is emptied once more, and answers asked for before that are not kept.
//! A zero TTL turns the cache off.

use std::{
    borrow::Borrow,
    collections::HashMap,
    hash::Hash,
    sync::{
        PoisonError, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

struct Entry<V> {
    value: V,
    expires_at: Instant,
}

/// Values by key, trusted while the event feed that invalidates them is live.
pub(crate) struct TtlCache<K, V> {
    ttl: Duration,
    entries: RwLock<HashMap<K, Entry<V>>>,
    /// Bumped (under the write lock) by every invalidation. An answer asked for before an
    /// invalidation must not be cached: what it describes may have changed while it was asked.
    generation: AtomicU64,
    /// Whether the event feed is live, so cached entries can be trusted.
    live: AtomicBool,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
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

    /// The value cached for `key`, if fresh.
    pub(crate) fn lookup<Q: Eq + Hash + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.lookup_at(key, Instant::now())
    }

    fn lookup_at<Q: Eq + Hash + ?Sized>(&self, key: &Q, now: Instant) -> Option<V>
    where
        K: Borrow<Q>,
    {
        if !self.usable() {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|entry| entry.expires_at > now)
            .map(|entry| entry.value.clone())
    }

    /// The generation to pass to [`Self::remember`]; read it before asking the service.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches `value` for `key` unless an invalidation happened since `seen_generation` was read.
    pub(crate) fn remember(&self, key: K, value: V, seen_generation: u64) {
        if !self.usable() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if self.generation.load(Ordering::Acquire) != seen_generation {
            return;
        }
        let expires_at = Instant::now() + self.ttl;
        entries.insert(key, Entry { value, expires_at });
    }

    /// Drops the entry of `key`: what it describes changed.
    pub(crate) fn forget<Q: Eq + Hash + ?Sized>(&self, key: &Q)
    where
        K: Borrow<Q>,
    {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(key);
    }

    /// Drops every entry whose value `changed` names.
    pub(crate) fn forget_where(&self, changed: impl Fn(&V) -> bool) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|_, entry| !changed(&entry.value));
    }

    /// Marks the event feed live or not. Either way the cache empties, and an answer asked for
    /// before is not kept: going down, because changes may be missed from now on; coming back,
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
    pub(crate) fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests;
