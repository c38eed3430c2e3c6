//! Projections: in-memory state (a verifier's keys, its revocation set) rebuilt from the event
//! stream on start and kept current from it, with one replay per event type filter merged into one
//! task.

use std::{pin::pin, time::Duration};

use chrono::{DateTime, Utc};
use futures::{
    StreamExt,
    stream::{self, BoxStream},
};
use tokio::sync::watch;

use crate::{BusError, Envelope, EventBus, EventFilter, Step, Subscription, backoff::Backoff};

/// First and longest wait before retrying a replay that failed.
const RECONNECT_INITIAL: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// How far before the last event seen a replay that had to be started again begins: publish times
/// come from the broker's clock (or the publishing process's, in-process), which need not agree to
/// the millisecond with the order events were stored in. Re-applying a few events is harmless.
const RESUME_MARGIN: Duration = Duration::from_secs(5);

/// Runs a projection until `shutdown` resolves: replays every filter in `filters` from `since` and
/// calls `apply` with each event, then with each new one as it is published.
///
/// `caught_up` turns true once every filter has delivered every event that was stored when its
/// replay started, and stays true. Events of one filter come in publish order; events of
/// different filters interleave in no particular order. Delivery is at least once (a replay that
/// has to be started again repeats a few events), and filters that overlap deliver an event once
/// each: `apply` must be idempotent, and cheap, as it runs on the task.
///
/// A replay carries on by itself over broker restarts; one that ends or cannot be started is
/// retried with a growing delay, from a little before the last event it delivered.
pub async fn run_projection<F>(
    bus: EventBus,
    filters: Vec<EventFilter>,
    since: DateTime<Utc>,
    mut apply: F,
    caught_up: watch::Sender<bool>,
    shutdown: impl Future<Output = ()>,
) where
    F: FnMut(&Envelope) + Send,
{
    let mut shutdown = pin!(shutdown);
    let mut behind = filters.len();
    if behind == 0 {
        caught_up.send_replace(true);
    }
    let mut feeds = stream::select_all(
        filters
            .into_iter()
            .map(|filter| Feed::new(bus.clone(), filter, since).into_stream()),
    );
    loop {
        let step = tokio::select! {
            biased;
            _ = shutdown.as_mut() => return,
            step = feeds.next(), if !feeds.is_empty() => step,
        };
        match step {
            Some(FeedStep::Event(envelope)) => apply(&envelope),
            Some(FeedStep::CaughtUp) => {
                behind -= 1;
                if behind == 0 {
                    caught_up.send_replace(true);
                }
            }
            // Feeds never end; with no filters at all there is nothing to do but wait.
            None => {}
        }
    }
}

/// What one filter's feed yields.
#[expect(
    clippy::large_enum_variant,
    reason = "a step is moved once, to the loop; boxing would allocate for every event"
)]
enum FeedStep {
    Event(Envelope),
    /// Once per feed, when it first caught up.
    CaughtUp,
}

/// One filter's replay, started again whenever it ends or cannot be started.
struct Feed {
    bus: EventBus,
    filter: EventFilter,
    since: DateTime<Utc>,
    subscription: Option<Subscription>,
    /// The publish time of the newest event delivered.
    last_published: Option<DateTime<Utc>>,
    caught_up_reported: bool,
    reconnect: Backoff,
}

impl Feed {
    fn new(bus: EventBus, filter: EventFilter, since: DateTime<Utc>) -> Self {
        Self {
            bus,
            filter,
            since,
            subscription: None,
            last_published: None,
            caught_up_reported: false,
            reconnect: Backoff::new(RECONNECT_INITIAL, RECONNECT_MAX),
        }
    }

    fn into_stream(self) -> BoxStream<'static, FeedStep> {
        Box::pin(stream::unfold(self, |mut feed| async move {
            let step = feed.next().await;
            Some((step, feed))
        }))
    }

    async fn next(&mut self) -> FeedStep {
        loop {
            let subscription = match &mut self.subscription {
                Some(subscription) => subscription,
                None => match self.bus.replay(self.filter.clone(), self.resume_from()).await {
                    Ok(subscription) => self.subscription.insert(subscription),
                    Err(err) => {
                        self.wait_after(&err, "could not start the replay").await;
                        continue;
                    }
                },
            };
            match subscription.next_step().await {
                Some(Ok(Step::Event(delivery))) => {
                    self.reconnect.reset();
                    if let Some(published) = delivery.published_at() {
                        self.last_published = Some(self.last_published.map_or(published, |last| last.max(published)));
                    }
                    return FeedStep::Event(delivery.envelope);
                }
                Some(Ok(Step::CaughtUp)) => {
                    self.reconnect.reset();
                    // A replay started again catches up again; the projection needs it once.
                    if !self.caught_up_reported {
                        self.caught_up_reported = true;
                        return FeedStep::CaughtUp;
                    }
                }
                // Only live subscriptions are interrupted; a replay resumes by itself.
                Some(Ok(Step::Interrupted)) => {}
                // The subscription resumes where it stopped on the next call.
                Some(Err(err)) => self.wait_after(&err, "the replay lost the bus").await,
                None => self.subscription = None,
            }
        }
    }

    /// Where a new replay starts: a little before the last event delivered, never before `since`.
    fn resume_from(&self) -> DateTime<Utc> {
        let margin = chrono::Duration::from_std(RESUME_MARGIN).unwrap_or_default();
        self.last_published.map_or(self.since, |last| {
            last.checked_sub_signed(margin).unwrap_or(last).max(self.since)
        })
    }

    async fn wait_after(&mut self, err: &BusError, what: &str) {
        let delay = self.reconnect.next_delay();
        tracing::warn!(filter = ?self.filter.pattern(), error = %err, retry_in_ms = delay.as_millis() as u64, "{what}");
        tokio::time::sleep(delay).await;
    }
}
