//! Each account's active policies and default effect, compiled once and kept in memory, so that an
//! evaluation at token issue reads nothing from the database.
//!
//! The cache is only used while it is *live*: while this instance follows the `policy.*` events of
//! every instance on the bus (its own included). Any policy or settings change commits its event in
//! the same transaction, so every instance drops the account's entry when the event arrives; the
//! instance that made the change drops it at once. If the feed fails, the cache empties and is
//! bypassed (every evaluation reads the database) until the feed is back: slower, never stale.
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
    time::Duration,
};

use latchkey_events::{EventBus, EventFilter, Subscription};

use crate::engine::{self, Effect};

/// What evaluation needs of one account.
#[derive(Debug)]
pub(crate) struct CompiledAccount {
    pub(crate) policies: Vec<engine::Policy>,
    pub(crate) default: Effect,
}

#[derive(Debug, Default)]
pub(crate) struct PolicyCache {
    accounts: RwLock<HashMap<String, Arc<CompiledAccount>>>,
    generation: AtomicU64,
    live: AtomicBool,
}

impl PolicyCache {
    /// The account's compiled policies, if cached and the cache is live.
    pub(crate) fn get(&self, account_id: &str) -> Option<Arc<CompiledAccount>> {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        self.accounts.read().ok()?.get(account_id).cloned()
    }

    /// The generation to pass to [`PolicyCache::store`] for a load starting now.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `compiled` unless something was invalidated since `generation` was read.
    pub(crate) fn store(&self, account_id: &str, generation: u64, compiled: Arc<CompiledAccount>) {
        if !self.live.load(Ordering::Acquire) {
            return;
        }
        if let Ok(mut accounts) = self.accounts.write()
            && self.generation.load(Ordering::Acquire) == generation
        {
            accounts.insert(account_id.to_owned(), compiled);
        }
    }

    /// Drops the account's entry (its policies or settings changed).
    pub(crate) fn invalidate(&self, account_id: &str) {
        if let Ok(mut accounts) = self.accounts.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            accounts.remove(account_id);
        }
    }

    fn set_live(&self, live: bool) {
        if let Ok(mut accounts) = self.accounts.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            accounts.clear();
            self.live.store(live, Ordering::Release);
        }
    }

    /// Follows `policy.*` events into the cache until the task is aborted; resubscribes with backoff
    /// after a failure, with the cache bypassed meanwhile.
    pub(crate) async fn follow(self: Arc<Self>, bus: EventBus) {
        const FIRST_RETRY: Duration = Duration::from_millis(100);
        const MAX_RETRY: Duration = Duration::from_secs(5);
        let mut retry = FIRST_RETRY;
        loop {
            let Some(mut live) = self.subscribe(&bus).await else {
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(MAX_RETRY);
                continue;
            };
            retry = FIRST_RETRY;
            loop {
                match live.next().await {
                    Some(Ok(delivery)) => self.invalidate(&delivery.envelope.account),
                    Some(Err(error)) => {
                        tracing::warn!(%error, "the policy feed failed; resubscribing");
                        break;
                    }
                    None => {
                        tracing::warn!("the policy feed ended; resubscribing");
                        break;
                    }
                }
            }
            self.set_live(false);
        }
    }

    async fn subscribe(&self, bus: &EventBus) -> Option<Subscription> {
        match bus.live(EventFilter::event_type("policy.*")).await {
            Ok(subscription) => {
                self.set_live(true);
                Some(subscription)
            }
            Err(error) => {
                tracing::warn!(%error, "cannot follow policy events; policies are read from the database until it can");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled() -> Arc<CompiledAccount> {
        Arc::new(CompiledAccount {
            policies: Vec::new(),
            default: Effect::Allow,
        })
    }

    #[test]
    fn a_cache_that_is_not_following_the_feed_keeps_nothing() {
        let cache = PolicyCache::default();
        cache.store("acc_1", cache.generation(), compiled());
        assert!(cache.get("acc_1").is_none());
    }

    #[test]
    fn a_load_that_raced_an_invalidation_is_not_kept() {
        let cache = PolicyCache::default();
        cache.set_live(true);
        let before = cache.generation();
        cache.invalidate("acc_1");
        cache.store("acc_1", before, compiled());
        assert!(cache.get("acc_1").is_none());
        cache.store("acc_1", cache.generation(), compiled());
        assert!(cache.get("acc_1").is_some());
        cache.invalidate("acc_1");
        assert!(cache.get("acc_1").is_none());
    }
}
