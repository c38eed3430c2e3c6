//! Caches kept honest by a live subscription: one loop, so every cache follows the same rules.
//!
//! A cache of something that changes through events may be trusted only while the events of every
//! change reach it. So a [`LiveCache`] is *live* from the moment its subscription is current, and
//! not live (emptied, bypassed, keeping nothing) from the moment it may be missing events: the
//! subscription was interrupted (the broker connection broke, the subscriber fell behind), failed,
//! or could not be made. When the subscription is current again the cache is emptied once more
//! before it is trusted, because whatever changed while it was deaf was never announced to it.

use std::{sync::Arc, time::Duration};

use crate::{Envelope, EventBus, EventFilter, Step, Subscription, backoff::Backoff};

/// First and longest wait before subscribing again after a failure.
const RETRY_INITIAL: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// A cache a [`LiveFeed`] keeps.
pub trait LiveCache: Send + Sync + 'static {
    /// An event matching the feed's filter arrived: drop what it changes.
    fn apply(&self, envelope: &Envelope);

    /// `false`: events may be missed from now on; drop everything, serve nothing from memory and
    /// keep nothing. `true`: every event reaches the cache again; drop everything once more (what
    /// was missed meanwhile, and loads that started before this call) and trust it from now on.
    fn set_live(&self, live: bool);
}

/// A live subscription feeding one cache, subscribed again whenever it fails. The cache starts not
/// live and is live only while the subscription is current.
pub struct LiveFeed<C> {
    bus: EventBus,
    filter: EventFilter,
    cache: Arc<C>,
    subscription: Option<Subscription>,
    retry: Backoff,
}

impl<C: LiveCache> LiveFeed<C> {
    /// Subscribes once and, if that worked, makes the cache live: call it before serving, so the
    /// first requests are already cached. [`run`](Self::run) carries on (and keeps trying).
    pub async fn subscribe(bus: EventBus, filter: EventFilter, cache: Arc<C>) -> Self {
        cache.set_live(false);
        let mut feed = Self {
            bus,
            filter,
            cache,
            subscription: None,
            retry: Backoff::new(RETRY_INITIAL, RETRY_MAX),
        };
        feed.open().await;
        feed
    }

    async fn open(&mut self) {
        match self.bus.live(self.filter.clone()).await {
            Ok(subscription) => {
                self.subscription = Some(subscription);
                self.retry.reset();
                self.cache.set_live(true);
            }
            Err(error) => {
                tracing::warn!(filter = ?self.filter.pattern(), %error, "cannot follow events; the cache is off until it can");
            }
        }
    }

    /// Applies events to the cache and turns it off and on as the subscription is interrupted and
    /// caught up; subscribes again, with a growing delay, after it fails. Runs until aborted.
    pub async fn run(mut self) {
        loop {
            let Some(subscription) = &mut self.subscription else {
                tokio::time::sleep(self.retry.next_delay()).await;
                self.open().await;
                continue;
            };
            match subscription.next_step().await {
                Some(Ok(Step::Event(delivery))) => self.cache.apply(&delivery.envelope),
                Some(Ok(Step::Interrupted)) => {
                    tracing::warn!(filter = ?self.filter.pattern(), "events may be missed; the cache is off until they are not");
                    self.cache.set_live(false);
                }
                Some(Ok(Step::CaughtUp)) => {
                    tracing::info!(filter = ?self.filter.pattern(), "following events again; the cache is back on");
                    self.cache.set_live(true);
                }
                Some(Err(error)) => {
                    tracing::warn!(filter = ?self.filter.pattern(), %error, "the live subscription failed; subscribing again");
                    self.cache.set_live(false);
                    self.subscription = None;
                }
                None => {
                    tracing::warn!(filter = ?self.filter.pattern(), "the live subscription ended; subscribing again");
                    self.cache.set_live(false);
                    self.subscription = None;
                }
            }
        }
    }
}
