//! Each account's active policies and default effect, compiled once and kept in memory, so that an
//! evaluation at token issue reads nothing from the database.
//!
//! The cache is only used while it is *live*: while this instance follows the `policy.*` events of
//! every instance on the bus (its own included) and is sure to receive them. Any policy or settings
//! change commits its event in the same transaction, so every instance drops the account's entry
//! when the event arrives; the instance that made the change drops it at once. While the feed may
//! be missing events (its NATS connection broke, or the subscription failed) the cache is empty and
//! bypassed: every evaluation reads the database, slower, never stale. When the feed is current
//! again the cache empties once more (changes made meanwhile were never announced to it); the loop
//! that decides this is `latchkey_events::LiveFeed`, shared with the gateway's caches.
//!
//! An entry also expires `ttl` after it was loaded (`policy.cache_ttl_secs`), so even a missed event
//! that nothing noticed (a connection that died silently, until the client's pings find out) keeps
//! a changed policy unenforced for at most that long.
//!
//! A reload that started before an invalidation must not put its (possibly stale) result back, so
//! every invalidation bumps a generation, and a result is stored only if no invalidation happened
//! since its load began.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use latchkey_events::{Envelope, EventFilter, LiveCache};
use latchkey_ids::AccountId;

use crate::engine::{self, Effect};

/// What evaluation needs of one account.
#[derive(Debug)]
pub(crate) struct CompiledAccount {
    pub(crate) policies: Vec<engine::Policy>,
    pub(crate) default: Effect,
}

#[derive(Debug)]
struct Entry {
    compiled: Arc<CompiledAccount>,
    /// `None`: the TTL is too long to count (it never expires).
    expires_at: Option<Instant>,
}

#[derive(Debug)]
pub(crate) struct PolicyCache {
    /// How long an entry is used after it was loaded; zero turns the cache off.
    ttl: Duration,
    accounts: RwLock<HashMap<AccountId, Entry>>,
    generation: AtomicU64,
    live: AtomicBool,
}

/// The events that change what the cache holds.
pub(crate) fn policy_events() -> EventFilter {
    EventFilter::event_type("policy.*")
}

impl PolicyCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            accounts: RwLock::default(),
            generation: AtomicU64::new(0),
            live: AtomicBool::new(false),
        }
    }

    fn usable(&self) -> bool {
        !self.ttl.is_zero() && self.live.load(Ordering::Acquire)
    }

    /// The account's compiled policies, if cached, not expired, and the cache is live.
    pub(crate) fn get(&self, account: &AccountId) -> Option<Arc<CompiledAccount>> {
        self.get_at(account, Instant::now())
    }

    fn get_at(&self, account: &AccountId, now: Instant) -> Option<Arc<CompiledAccount>> {
        if !self.usable() {
            return None;
        }
        let accounts = self.accounts.read().ok()?;
        let entry = accounts.get(account)?;
        entry
            .expires_at
            .is_none_or(|expires_at| expires_at > now)
            .then(|| entry.compiled.clone())
    }

    /// The generation to pass to [`PolicyCache::store`] for a load starting now.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `compiled` unless something was invalidated since `generation` was read.
    pub(crate) fn store(&self, account: &AccountId, generation: u64, compiled: Arc<CompiledAccount>) {
        if !self.usable() {
            return;
        }
        if let Ok(mut accounts) = self.accounts.write()
            && self.generation.load(Ordering::Acquire) == generation
        {
            let expires_at = Instant::now().checked_add(self.ttl);
            accounts.insert(account.clone(), Entry { compiled, expires_at });
        }
    }

    /// Drops the account's entry (its policies or settings changed). Takes the account as text:
    /// an event names it so, and whatever it names, the generation moves on.
    pub(crate) fn invalidate(&self, account: &str) {
        if let Ok(mut accounts) = self.accounts.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            accounts.remove(account);
        }
    }
}

impl LiveCache for PolicyCache {
    fn apply(&self, envelope: &Envelope) {
        self.invalidate(&envelope.account);
    }

    /// Either way the cache empties and a load that began before is not kept.
    fn set_live(&self, live: bool) {
        if let Ok(mut accounts) = self.accounts.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            accounts.clear();
            self.live.store(live, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests;
