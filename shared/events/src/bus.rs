//! The event bus seam: one enum over JetStream (the mesh) and the durable in-process bus
//! (`latchkey dev`), with subscriptions and deliveries that look the same on both.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{BusError, DeadLetters, Envelope, EventFilter, EventsConfig, dead_letter::DeadLetterSetup, local, nats};

pub use crate::local::LocalBus;
pub use crate::nats::{NatsBus, NatsConnection};

/// Where events are published and consumed. Cheap to clone.
///
/// Both implementations give the same contract: `publish` returns once every event is durably
/// stored; a second event with the same id is dropped; every durable consumer gets every matching
/// event at least once, in publish order per publisher, and an event counts as consumed only once
/// its handler succeeded and acknowledged it. Two exceptions keep one bad event from blocking the
/// rest (docs/events.md): an event that keeps failing is dead-lettered, and revocations overtake
/// an outbox row the bus refuses.
#[derive(Clone, Debug)]
pub enum EventBus {
    Nats(NatsBus),
    Local(LocalBus),
}

impl EventBus {
    /// The JetStream bus: ensures (idempotently) the stream `<PREFIX>_EVENTS` holding
    /// `<prefix>.events.>`, on file storage with a two-minute duplicate window. The connection is
    /// made by [`NatsConnection::connect`], so that live subscriptions learn of disconnects.
    pub async fn nats(connection: NatsConnection, prefix: &str) -> Result<Self, BusError> {
        Ok(Self::Nats(NatsBus::connect(connection, prefix).await?))
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
    /// JetStream: the consumer lets up to `max_batch` events be unacknowledged at once
    /// (`max_ack_pending`), and every batch is one pull request that does not wait for more
    /// (`no_wait`). Opening an existing consumer with another `max_batch` updates it.
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

/// Why a publish stopped short.
pub(crate) struct PublishFailure {
    /// How many of the events, from the first, are stored.
    pub(crate) stored: usize,
    /// Whether the bus refused event `stored` for good (it will never take it as it is), rather
    /// than failing for a reason of its own (an outage).
    pub(crate) refused: bool,
    pub(crate) error: BusError,
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

/// What a subscription yields next: an event; or, from a replay, the news that every event that
/// existed when it started has now been delivered; or, from a live subscription, that it may be
/// missing events or is current again.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "a step is moved once, to its caller; boxing would allocate for every event"
)]
pub enum Step {
    Event(Delivery),
    /// Comes once per replay, right after the last event it found stored when it started (at once
    /// when there was none) and before any event published later. From a live subscription: after
    /// [`Step::Interrupted`], once every event published from now on reaches it again.
    CaughtUp,
    /// Live subscriptions only: events published from now until the next [`Step::CaughtUp`] may
    /// never arrive (the connection to the broker broke, or the subscriber fell behind).
    Interrupted,
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

/// One event handed to a consumer. Dropping it without `ack` or `nak` makes a durable consumer
/// deliver it again promptly, as `nak` with no delay would.
pub struct Delivery {
    pub envelope: Envelope,
    /// Milliseconds since the Unix epoch; see [`Delivery::published_at`].
    pub(crate) published_ms: Option<i64>,
    pub(crate) acker: Acker,
}

/// How a delivery is settled with the bus it came from.
pub(crate) enum Acker {
    Nats(nats::Acker),
    Local(local::Acker),
    /// Live subscriptions: nothing to settle.
    Live,
}

impl Delivery {
    /// When the bus stored the event, to the millisecond: the time [`EventBus::replay`] compares
    /// with its `since`. Known for durable and replayed events; `None` for live ones, which core
    /// NATS delivers without it.
    pub fn published_at(&self) -> Option<DateTime<Utc>> {
        self.published_ms.and_then(DateTime::from_timestamp_millis)
    }

    /// Marks the event consumed; a durable consumer never sees it again.
    pub async fn ack(self) -> Result<(), BusError> {
        match self.acker {
            Acker::Nats(acker) => acker.ack().await,
            Acker::Local(acker) => acker.ack().await,
            Acker::Live => Ok(()),
        }
    }

    /// Asks for the event again after `delay`, before any later event of this consumer.
    pub async fn nak(self, delay: Duration) -> Result<(), BusError> {
        match self.acker {
            Acker::Nats(acker) => acker.nak(delay).await,
            Acker::Local(acker) => {
                acker.nak(delay);
                Ok(())
            }
            Acker::Live => Ok(()),
        }
    }
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("event_id", &self.envelope.id)
            .field("event_type", &self.envelope.event_type)
            .finish_non_exhaustive()
    }
}

/// Consecutive events of one durable consumer, handed over together and settled together.
pub struct Batch {
    envelopes: Vec<Envelope>,
    ackers: Vec<Acker>,
}

impl Batch {
    fn new(deliveries: Vec<Delivery>) -> Self {
        let (envelopes, ackers) = deliveries
            .into_iter()
            .map(|delivery| (delivery.envelope, delivery.acker))
            .unzip();
        Self { envelopes, ackers }
    }

    /// The events, in order. Empty after [`take_envelopes`](Self::take_envelopes).
    pub fn envelopes(&self) -> &[Envelope] {
        &self.envelopes
    }

    /// Hands the events over (to a handler that owns them); the batch can still be settled.
    pub fn take_envelopes(&mut self) -> Vec<Envelope> {
        std::mem::take(&mut self.envelopes)
    }

    /// How many events the batch holds (settles), whether or not they were taken.
    pub fn len(&self) -> usize {
        self.ackers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ackers.is_empty()
    }

    /// Marks every event of the batch consumed. JetStream: every message is acknowledged, in order,
    /// and the server's confirmation of the last one is awaited. In-process: the cursor moves once,
    /// to the last event, which covers the ones before it.
    pub async fn ack(self) -> Result<(), BusError> {
        let mut nats_ackers = Vec::new();
        let mut local_ackers = Vec::new();
        for acker in self.ackers {
            match acker {
                Acker::Nats(acker) => nats_ackers.push(acker),
                Acker::Local(acker) => local_ackers.push(acker),
                Acker::Live => {}
            }
        }
        nats::ack_all(nats_ackers).await?;
        local::ack_all(local_ackers).await
    }

    /// Asks for every event of the batch again, at once, before any later event of the consumer.
    /// JetStream: naks in stream order, so the redelivery queue holds them in that order.
    pub async fn nak(self) -> Result<(), BusError> {
        let mut failure = None;
        for acker in self.ackers {
            let naked = match acker {
                Acker::Nats(acker) => acker.nak(Duration::ZERO).await,
                Acker::Local(acker) => {
                    acker.nak(Duration::ZERO);
                    Ok(())
                }
                Acker::Live => Ok(()),
            };
            if let Err(err) = naked {
                failure.get_or_insert(err);
            }
        }
        failure.map_or(Ok(()), Err)
    }
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("events", &self.ackers.len())
            .field("first_event_id", &self.envelopes.first().map(|envelope| &envelope.id))
            .finish_non_exhaustive()
    }
}
