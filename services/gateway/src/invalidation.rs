//! Background work that keeps the caches honest: the live `api_key.*` feed that drops deleted keys
//! from the key cache and changed accounts' pages from the list cache, and a periodic sweep of
//! expired entries and idle rate-limit buckets.

use std::{sync::Arc, time::Duration};

use latchkey_events::{EventBus, EventFilter, EventType, Subscription, catalogue::ApiKeyDeleted};
use tracing::Instrument;

use crate::{
    key_cache::{KeyCache, SecretHash},
    list_cache::ListCache,
    rate_limit::KeyRateLimiter,
};

/// How often expired cache entries and idle rate-limit buckets are dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// Resubscription backoff bounds after the feed fails.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(5);

/// Follows `api_key.created` and `api_key.deleted` events into the key and list caches.
pub(crate) struct ApiKeyFeed {
    bus: EventBus,
    keys: Arc<KeyCache>,
    lists: Arc<ListCache>,
}

impl ApiKeyFeed {
    pub(crate) fn new(bus: EventBus, keys: Arc<KeyCache>, lists: Arc<ListCache>) -> Self {
        Self { bus, keys, lists }
    }

    fn set_live(&self, live: bool) {
        self.keys.set_live(live);
        self.lists.set_live(live);
    }

    /// Subscribes and, on success, lets the cache be used. Called once before the gateway serves,
    /// so the first requests are already cached, then again after every failure.
    pub(crate) async fn subscribe(&self) -> Option<Subscription> {
        match self.bus.live(EventFilter::event_type("api_key.*")).await {
            Ok(subscription) => {
                self.set_live(true);
                Some(subscription)
            }
            Err(error) => {
                tracing::warn!(%error, "cannot follow api_key events; the key and list caches are off until it can");
                None
            }
        }
    }

    /// Applies deletions until the subscription fails; then empties the cache (a deletion may be
    /// missed while it is down) and resubscribes with backoff. Runs until aborted.
    pub(crate) async fn run(self, mut subscription: Option<Subscription>) {
        let mut retry = FIRST_RETRY;
        loop {
            let Some(mut live) = subscription.take() else {
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(MAX_RETRY);
                subscription = self.subscribe().await;
                continue;
            };
            retry = FIRST_RETRY;
            loop {
                match live.next().await {
                    Some(Ok(delivery)) => self.apply(&delivery.envelope),
                    Some(Err(error)) => {
                        tracing::warn!(%error, "the api_key feed failed; resubscribing");
                        break;
                    }
                    None => {
                        tracing::warn!("the api_key feed ended; resubscribing");
                        break;
                    }
                }
            }
            self.set_live(false);
        }
    }

    fn apply(&self, envelope: &latchkey_events::Envelope) {
        // Any change to an account's keys changes its list; the account comes from the envelope.
        self.lists.forget(&envelope.account);
        if envelope.event_type != EventType::ApiKeyDeleted.as_str() {
            return;
        }
        match serde_json::from_value::<ApiKeyDeleted>(envelope.data.clone()) {
            Ok(deleted) => {
                if let Some(hash) = SecretHash::from_hex(&deleted.secret_hash) {
                    self.keys.forget_secret(&hash);
                }
                // By id too: this drops the key even if its hash was malformed.
                self.keys.forget_key(&deleted.key_id);
                tracing::debug!(key_id = %deleted.key_id, "dropped a deleted key from the cache");
            }
            Err(error) => {
                // Unreadable: the safe reaction is to forget everything rather than keep a key
                // that may be the deleted one.
                tracing::warn!(event_id = %envelope.id, %error, "unreadable api_key.deleted event; clearing the key cache");
                self.keys.clear();
            }
        }
    }
}

/// Drops expired cache entries and idle rate-limit buckets every [`SWEEP_EVERY`]. Runs until aborted.
pub(crate) async fn sweep(keys: Arc<KeyCache>, lists: Arc<ListCache>, rate_limiter: Arc<KeyRateLimiter>) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    loop {
        every.tick().await;
        keys.sweep();
        lists.sweep();
        rate_limiter.retain_recent();
    }
}

/// Background tasks that end when the gateway is dropped.
pub(crate) struct BackgroundTasks(Vec<tokio::task::JoinHandle<()>>);

impl BackgroundTasks {
    pub(crate) fn start(feed: ApiKeyFeed, first: Option<Subscription>, rate_limiter: Arc<KeyRateLimiter>) -> Self {
        let (keys, lists) = (feed.keys.clone(), feed.lists.clone());
        let follow = tokio::spawn(feed.run(first).instrument(tracing::info_span!("gateway.key_events")));
        let sweep =
            tokio::spawn(sweep(keys, lists, rate_limiter).instrument(tracing::info_span!("gateway.cache_sweep")));
        Self(vec![follow, sweep])
    }
}

impl Drop for BackgroundTasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}
