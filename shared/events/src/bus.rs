//! The event bus seam: one enum over JetStream (the mesh) and the durable in-process bus
//! (`latchkey dev`), with subscriptions whose deliveries (`delivery`) look the same on both.

use chrono::{DateTime, Utc};

use crate::{
    BusError, DeadLetters, Envelope, EventFilter, EventsConfig,
    dead_letter::DeadLetterSetup,
    delivery::{Batch, Delivery, PublishFailure, Step},
    local, nats,
};

pub use crate::local::LocalBus;
pub use crate::nats::{NatsBus, NatsConnection, StreamSettings};

/// Where events are published and consumed. Cheap to clone.
///
/// Both implementations give the same contract: `publish` returns once every event is durably
/// stored; a second event with the same id is dropped; every durable consumer gets every matching
/// event at least once, in publish order per publisher, and an event counts as consumed only once
/// its handler succeeded and acknowledged it. Two exceptions keep one bad event from blocking the
/// rest (docs/events.md): an event that keeps failing is dead-lettered, and revocations overtake
/// an outbox row the bus refuses.
/// Where a durable consumer stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsumerState {
    /// Events stored that it has not been handed yet: its lag.
    pub pending: u64,
    /// Events handed out and not yet acknowledged (they come again after the ack wait).
    pub unacknowledged: u64,
    /// Events handed out more than once, among those not yet acknowledged.
    pub redelivered: u64,
}

#[derive(Clone, Debug)]
pub enum EventBus {
    Nats(NatsBus),
    Local(LocalBus),
}

impl EventBus {
    /// The JetStream bus: ensures (idempotently) the stream `<PREFIX>_EVENTS` holding
    /// `<prefix>.events.>`, on file storage, one replica, kept for ever, with a two-minute
    /// duplicate window. The connection is made by [`NatsConnection::connect`], so that live
    /// subscriptions learn of disconnects.
    pub async fn nats(connection: NatsConnection, prefix: &str) -> Result<Self, BusError> {
        Self::nats_with(connection, prefix, StreamSettings::default()).await
    }

    /// The JetStream bus with the stream kept as `settings` say (replicas, retention, duplicate
    /// window); an existing stream kept otherwise is updated.
    pub async fn nats_with(
        connection: NatsConnection,
        prefix: &str,
        settings: StreamSettings,
    ) -> Result<Self, BusError> {
        Ok(Self::Nats(NatsBus::connect(connection, prefix, settings).await?))
    }

    /// The durable in-process bus, stored in `db`: an append-only event table deduplicated by
    /// event id, and a table of consumer cursors.
    pub async fn local(db: latchkey_storage::Db) -> Result<Self, BusError> {
        Ok(Self::Local(LocalBus::open(db).await?))
    }

    /// Sets how many tries the relays and durable consumers on this bus give an event before they
    /// dead-letter it (`[events]` in the settings file; docs/events.md).
    #[must_use]
    pub fn with_config(mut self, config: EventsConfig) -> Self {
        self.dead_letters_mut().config = config;
        self
    }

    /// Where this bus's durable consumers put the events they give up on: `db`'s
    /// `latchkey_dead_letters`, created if needed (a service's own database). The in-process bus
    /// uses its own database until told otherwise; a JetStream consumer without one retries an
    /// event for ever, as it has nowhere to put it.
    pub async fn with_dead_letters(mut self, db: latchkey_storage::Db) -> Result<Self, BusError> {
        self.dead_letters_mut().store = Some(DeadLetters::open(db).await?);
        Ok(self)
    }

    pub(crate) fn dead_letters(&self) -> &DeadLetterSetup {
        match self {
            Self::Nats(bus) => &bus.dead_letters,
            Self::Local(bus) => &bus.dead_letters,
        }
    }

    fn dead_letters_mut(&mut self) -> &mut DeadLetterSetup {
        match self {
            Self::Nats(bus) => &mut bus.dead_letters,
            Self::Local(bus) => &mut bus.dead_letters,
        }
    }

    /// Publishes `events` in order, sending all of them before awaiting the acknowledgements.
    /// Ok only when every event is stored (a duplicate counts as stored).
    pub async fn publish(&self, events: &[Envelope]) -> Result<(), BusError> {
        self.publish_in_order(events).await.map_err(|failure| failure.error)
    }

    /// [`publish`](Self::publish), saying on a failure how far it got and whether the bus refused
    /// an event for good.
    pub(crate) async fn publish_in_order(&self, events: &[Envelope]) -> Result<(), PublishFailure> {
        match self {
            Self::Nats(bus) => bus.publish(events).await,
            Self::Local(bus) => bus.publish(events).await.map_err(|error| PublishFailure {
                // One transaction: all or nothing. The in-process bus refuses no event.
                stored: 0,
                refused: false,
                error,
            }),
        }
    }

    /// The durable consumer `name`: survives restarts and resumes after the last acknowledged
    /// event. Deliveries come one at a time, in order; settle each before asking for the next.
    pub async fn durable(&self, name: &str, filter: EventFilter) -> Result<Subscription, BusError> {
        self.durable_batches(name, filter, 1).await
    }

    /// The durable consumer `name`, read in batches: [`Subscription::next_batch`] waits for one
    /// event and hands it over with whatever follows it that the bus has ready, up to `max_batch`
    /// events, in order. Settle each batch before asking for the next.
    ///
    /// JetStream: the consumer lets up to two batches of events be unacknowledged at once
    /// (`max_ack_pending`), so the consumer loop can fetch a batch while it handles the one
    /// before, and every batch is one pull request that does not wait for more (`no_wait`). Opening an existing consumer with another `max_batch` updates it.
    pub async fn durable_batches(
        &self,
        name: &str,
        filter: EventFilter,
        max_batch: usize,
    ) -> Result<Subscription, BusError> {
        check_consumer_name(name)?;
        check_filter(&filter)?;
        let max_batch = max_batch.max(1);
        let inner = match self {
            Self::Nats(bus) => SubscriptionInner::NatsDurable(Box::new(bus.durable(name, filter, max_batch).await?)),
            Self::Local(bus) => SubscriptionInner::LocalDurable(bus.durable(name, filter).await?),
        };
        Ok(Subscription { inner, max_batch })
    }

    /// Whether the bus can be reached now: the NATS client's connection (it reconnects by itself);
    /// always in-process.
    pub fn is_connected(&self) -> bool {
        match self {
            Self::Nats(bus) => bus.is_connected(),
            Self::Local(_) => true,
        }
    }

    /// Where the durable consumer `name` stands on the bus: for takeovers between replicas and the
    /// operators' lag metrics. `None` when it does not exist yet, and always in-process, where a
    /// consumer has one process and no one to hand over to.
    pub async fn consumer_state(&self, name: &str) -> Result<Option<ConsumerState>, BusError> {
        check_consumer_name(name)?;
        match self {
            Self::Nats(bus) => bus.consumer_state(name).await,
            Self::Local(_) => Ok(None),
        }
    }

    /// Events published from now on, not durable; acks are no-ops. For cache invalidation: see
    /// [`LiveFeed`](crate::LiveFeed), which keeps a cache by these rules.
    ///
    /// The subscription is current when this returns: every event published afterwards reaches it.
    /// When that may stop being true it says so with [`Step::Interrupted`] (from
    /// [`Subscription::next_step`]), and with [`Step::CaughtUp`] once it is current again; events
    /// published in between may be lost. JetStream: the client's disconnects and slow-consumer
    /// reports interrupt; after a reconnect, a round trip confirms the server has the
    /// subscription again before it catches up. In-process: a subscriber that fell too far
    /// behind is interrupted and at once caught up.
    pub async fn live(&self, filter: EventFilter) -> Result<Subscription, BusError> {
        check_filter(&filter)?;
        let inner = match self {
            Self::Nats(bus) => SubscriptionInner::NatsLive(bus.live(filter).await?),
            Self::Local(bus) => SubscriptionInner::LocalLive(bus.live(filter)),
        };
        Ok(Subscription { inner, max_batch: 1 })
    }

    /// Every event matching `filter` the bus stored at or after `since` (by its own publish time,
    /// to the millisecond), in publish order, then every new one as it is published: one ordered,
    /// non-durable stream, for rebuilding an in-memory projection on start and keeping it current.
    /// Acks are no-ops. [`Subscription::next_step`] also says when the events that existed at the
    /// start have all been delivered.
    ///
    /// JetStream: an ephemeral ordered consumer starting at `since` (it survives broker restarts,
    /// resuming after the last event it delivered). In-process: the event table read in sequence
    /// order, history and new events alike, so nothing falls between the two or comes twice.
    pub async fn replay(&self, filter: EventFilter, since: DateTime<Utc>) -> Result<Subscription, BusError> {
        check_filter(&filter)?;
        let since_ms = since.timestamp_millis();
        let inner = match self {
            Self::Nats(bus) => SubscriptionInner::NatsReplay(Box::new(bus.replay(filter, since_ms).await?)),
            Self::Local(bus) => SubscriptionInner::LocalReplay(bus.replay(filter, since_ms).await?),
        };
        Ok(Subscription { inner, max_batch: 1 })
    }
}

/// A consumer name must be a single NATS token and a sensible durable name.
fn check_consumer_name(name: &str) -> Result<(), BusError> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(BusError::InvalidConsumerName(name.to_owned()))
    }
}

fn check_filter(filter: &EventFilter) -> Result<(), BusError> {
    if filter.is_valid() {
        Ok(())
    } else {
        Err(BusError::InvalidPattern(
            filter.pattern().unwrap_or_default().to_owned(),
        ))
    }
}

/// A stream of deliveries from the bus.
pub struct Subscription {
    inner: SubscriptionInner,
    /// The most events [`next_batch`](Subscription::next_batch) hands over at once.
    max_batch: usize,
}

enum SubscriptionInner {
    NatsDurable(Box<nats::Durable>),
    NatsLive(nats::Live),
    LocalDurable(local::Durable),
    LocalLive(local::Live),
    NatsReplay(Box<nats::Replay>),
    LocalReplay(local::Replay),
}

impl Subscription {
    /// The next matching event. An error is transient unless it repeats: a JetStream consumer
    /// rebuilds its message stream on the following call. `None` when the subscription has ended
    /// for good and must be created again. Skips the other [`Step`]s: a live subscription's user
    /// that must know of gaps calls [`next_step`](Self::next_step).
    pub async fn next(&mut self) -> Option<Result<Delivery, BusError>> {
        loop {
            match self.next_step().await? {
                Ok(Step::Event(delivery)) => return Some(Ok(delivery)),
                Ok(Step::CaughtUp | Step::Interrupted) => {}
                Err(err) => return Some(Err(err)),
            }
        }
    }

    /// The next events, in order: waits for one, then adds those the bus has ready now, up to the
    /// subscription's batch size; it never waits to fill a batch. Only durable consumers opened with
    /// [`EventBus::durable_batches`] hand out more than one; other subscriptions hand out batches
    /// of one. `None` and errors as for [`next`](Self::next).
    pub async fn next_batch(&mut self) -> Option<Result<Batch, BusError>> {
        let max = self.max_batch;
        let deliveries = match &mut self.inner {
            SubscriptionInner::NatsDurable(sub) => sub.next_batch(max).await,
            SubscriptionInner::LocalDurable(sub) => sub.next_batch(max).await,
            _ => self
                .next()
                .await
                .map(|delivery| delivery.map(|delivery| vec![delivery])),
        };
        deliveries.map(|deliveries| deliveries.map(Batch::new))
    }

    /// Up to `max` events (at most the subscription's batch size) as [`next_batch`](Self::next_batch)
    /// hands them over, or `Some(Ok(None))` when a durable consumer waited a while (a second
    /// in-process, five on JetStream) with nothing: a moment for the consumer loop's other work.
    pub(crate) async fn poll_batch(&mut self, max: usize) -> Option<Result<Option<Batch>, BusError>> {
        let max = max.clamp(1, self.max_batch);
        let deliveries = match &mut self.inner {
            SubscriptionInner::NatsDurable(sub) => sub.next_batch_or_idle(max).await,
            SubscriptionInner::LocalDurable(sub) => sub.next_batch_or_idle(max).await,
            _ => return self.next_batch().await.map(|batch| batch.map(Some)),
        };
        deliveries
            .map(|deliveries| deliveries.map(|deliveries| (!deliveries.is_empty()).then(|| Batch::new(deliveries))))
    }

    /// Up to `max` events (at most the subscription's batch size) the bus has ready now, without
    /// waiting: the batch after the one the caller is handling, fetched while it handles it. Only a
    /// JetStream durable consumer fetches ahead (its consumer allows two batches unacknowledged);
    /// every other subscription answers `None`. The batch must be settled after the one before it.
    pub(crate) async fn poll_ready(&mut self, max: usize) -> Result<Option<Batch>, BusError> {
        let max = max.clamp(1, self.max_batch);
        match &mut self.inner {
            SubscriptionInner::NatsDurable(sub) => {
                let deliveries = sub.ready_batch(max).await?;
                Ok((!deliveries.is_empty()).then(|| Batch::new(deliveries)))
            }
            _ => Ok(None),
        }
    }

    /// Like [`next`](Self::next), but a replay also reports, in order, when it has caught up with
    /// the history: even when none of the remaining stored events matched, so a caller waiting to
    /// be current is not left waiting for the next new event. A live subscription reports when it
    /// is interrupted and when it has caught up again (see [`EventBus::live`]).
    pub async fn next_step(&mut self) -> Option<Result<Step, BusError>> {
        let event = |delivery: Option<Result<Delivery, BusError>>| delivery.map(|result| result.map(Step::Event));
        match &mut self.inner {
            SubscriptionInner::NatsDurable(sub) => event(sub.next().await),
            SubscriptionInner::NatsLive(sub) => sub.next().await,
            SubscriptionInner::LocalDurable(sub) => event(sub.next().await),
            SubscriptionInner::LocalLive(sub) => sub.next().await,
            SubscriptionInner::NatsReplay(sub) => sub.next().await,
            SubscriptionInner::LocalReplay(sub) => sub.next().await,
        }
    }
}
