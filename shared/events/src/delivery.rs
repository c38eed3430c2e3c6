//! What a subscription hands out, the same whichever bus it reads: a [`Step`], the [`Delivery`] of
//! one event or a [`Batch`] of them, each settled with the bus it came from through its acker
//! (`nats_acker`, `local_acker`). The backends (`nats`, `local`) make deliveries and `bus` hands
//! them on; both stand on this module, which knows neither.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{BusError, Envelope};

pub(crate) mod local_acker;
pub(crate) mod nats_acker;

use local_acker::Acker as LocalAcker;
use nats_acker::Acker as NatsAcker;

/// Why a publish stopped short.
pub(crate) struct PublishFailure {
    /// How many of the events, from the first, are stored.
    pub(crate) stored: usize,
    /// Whether the bus refused event `stored` for good (it will never take it as it is), rather
    /// than failing for a reason of its own (an outage).
    pub(crate) refused: bool,
    pub(crate) error: BusError,
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
    Nats(NatsAcker),
    Local(LocalAcker),
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
    pub(crate) fn new(deliveries: Vec<Delivery>) -> Self {
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
        nats_acker::ack_all(nats_ackers).await?;
        local_acker::ack_all(local_ackers).await
    }

    /// Asks for every event of the batch again, at once, before any later event of the consumer.
    /// JetStream: naks in stream order, so the redelivery queue holds them in that order.
    pub async fn nak(self) -> Result<(), BusError> {
        let mut nats_ackers = Vec::new();
        for acker in self.ackers {
            match acker {
                Acker::Nats(acker) => nats_ackers.push(acker),
                Acker::Local(acker) => acker.nak(Duration::ZERO),
                Acker::Live => {}
            }
        }
        nats_acker::nak_all(nats_ackers).await
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
