//! Background work that keeps the caches honest: the live `api_key.*` feed that drops deleted keys
//! from the key cache and changed accounts' pages from the list cache (and both caches whenever the
//! feed may be missing events), and a periodic sweep of expired entries and idle rate-limit buckets.

use std::{sync::Arc, time::Duration};

use latchkey_events::{
    Envelope, EventFilter, EventType, LiveCache, LiveFeed,
    catalogue::{ApiKeyDeleted, ServiceKeyDeleted},
};
use latchkey_server::Tasks;

use crate::{
    key_cache::{KeyCache, SecretHash, ServiceKeyCache},
    list_cache::ListCache,
    rate_limit::KeyRateLimiter,
};

/// How often expired cache entries and idle rate-limit buckets are dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// The caches `api_key.*` events keep current: deleted keys leave the key cache, and any change to
/// an account's keys drops its rendered list. A [`LiveFeed`] turns both off while it may be missing
/// events and drops them again when it has caught up (see `latchkey_events::LiveFeed`).
pub(crate) struct ApiKeyCaches {
    pub(crate) keys: Arc<KeyCache>,
    pub(crate) lists: Arc<ListCache>,
}

/// The events the caches follow.
pub(crate) fn api_key_events() -> EventFilter {
    EventFilter::event_type("api_key.*")
}

impl LiveCache for ApiKeyCaches {
    fn set_live(&self, live: bool) {
        self.keys.set_live(live);
        self.lists.set_live(live);
    }

    fn apply(&self, envelope: &Envelope) {
        // Any change to an account's keys changes its list; the account comes from the envelope.
        self.lists.forget(envelope.account.as_str());
        if envelope.event_type != EventType::ApiKeyDeleted.as_str() {
            return;
        }
        match serde_json::from_value::<ApiKeyDeleted>(envelope.data.clone()) {
            Ok(deleted) => {
                if let Some(hash) = SecretHash::from_hex(&deleted.secret_hash) {
                    self.keys.forget(&hash);
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

/// The cache of service API keys, which `service_key.*` events keep current as `api_key.*` events
/// keep the account key cache: a deleted key (alone or with its service) leaves at once, and the
/// cache is off while the feed may be missing events.
pub(crate) struct ServiceKeyCaches {
    pub(crate) service_keys: Arc<ServiceKeyCache>,
}

/// The events the service key cache follows.
pub(crate) fn service_key_events() -> EventFilter {
    EventFilter::event_type("service_key.*")
}

impl LiveCache for ServiceKeyCaches {
    fn set_live(&self, live: bool) {
        self.service_keys.set_live(live);
    }

    fn apply(&self, envelope: &Envelope) {
        if envelope.event_type != EventType::ServiceKeyDeleted.as_str() {
            return;
        }
        match serde_json::from_value::<ServiceKeyDeleted>(envelope.data.clone()) {
            Ok(deleted) => {
                if let Some(hash) = SecretHash::from_hex(&deleted.secret_hash) {
                    self.service_keys.forget(&hash);
                }
                self.service_keys.forget_service_key(&deleted.key_id);
                tracing::debug!(key_id = %deleted.key_id, "dropped a deleted service key from the cache");
            }
            Err(error) => {
                tracing::warn!(event_id = %envelope.id, %error, "unreadable service_key.deleted event; clearing the service key cache");
                self.service_keys.clear();
            }
        }
    }
}

/// The key cache's principals carry their account's plan: a `billing.*` event (the account moved
/// to another plan) drops the account's principals, so its next request reads the new plan. This
/// feed does not turn the key cache off while it may be missing events (the `api_key.*` feed owns
/// that switch); it empties the cache instead when it falls behind and again when it catches up,
/// so a missed plan change lasts at most until then, and never longer than the cache's TTL.
pub(crate) struct PlanCaches {
    pub(crate) keys: Arc<KeyCache>,
    pub(crate) service_keys: Arc<ServiceKeyCache>,
}

/// The events that change an account's plan.
pub(crate) fn plan_events() -> EventFilter {
    EventFilter::event_type("billing.*")
}

impl LiveCache for PlanCaches {
    fn set_live(&self, _live: bool) {
        self.keys.clear();
        self.service_keys.clear();
    }

    fn apply(&self, envelope: &Envelope) {
        let account = envelope.account.as_str();
        self.keys
            .forget_where(|principal| principal.account_id.as_str() == account);
        self.service_keys
            .forget_where(|caller| caller.account_id.as_str() == account);
        tracing::debug!(account, "dropped an account's cached keys: its plan changed");
    }
}

/// What [`sweep`] keeps tidy.
pub(crate) struct SweptCaches {
    pub(crate) keys: Arc<KeyCache>,
    pub(crate) service_keys: Arc<ServiceKeyCache>,
    pub(crate) lists: Arc<ListCache>,
    pub(crate) rate_limiter: Arc<KeyRateLimiter>,
}

/// Drops expired cache entries and idle rate-limit buckets every [`SWEEP_EVERY`]. Runs until stopped.
pub(crate) async fn sweep(caches: SweptCaches) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    loop {
        every.tick().await;
        caches.keys.sweep();
        caches.service_keys.sweep();
        caches.lists.sweep();
        caches.rate_limiter.retain_recent();
    }
}

/// The feeds the gateway's caches follow.
pub(crate) struct Feeds {
    pub(crate) keys: LiveFeed<ApiKeyCaches>,
    pub(crate) service_keys: LiveFeed<ServiceKeyCaches>,
    pub(crate) plans: LiveFeed<PlanCaches>,
}

/// Starts following the feeds (tasks `key-events`, `service-key-events`, `plan-events`) and
/// sweeping the caches (task `cache-sweep`) in `tasks`, until it stops.
pub(crate) fn start(tasks: &Tasks, feeds: Feeds, caches: SweptCaches) {
    tasks.spawn_until_shutdown("key-events", feeds.keys.run());
    tasks.spawn_until_shutdown("service-key-events", feeds.service_keys.run());
    tasks.spawn_until_shutdown("plan-events", feeds.plans.run());
    tasks.spawn_until_shutdown("cache-sweep", sweep(caches));
}

#[cfg(test)]
mod tests;
