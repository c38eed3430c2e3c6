//! A consumer's dead letters: moving an event its handler keeps failing on out of the way, and
//! handing the handler those an operator put back (`latchkey events dead-letters retry`).

use std::{fmt::Display, time::Duration};

use latchkey_storage::StorageError;
use tokio::time::Instant;
use tracing::Instrument;

use super::batch_span;
use crate::{
    DeadLetters, Envelope, EventBus, EventsConfig,
    dead_letter::{self, Location, NewDeadLetter, sanitize_error},
};

/// How often a busy consumer looks for dead letters put back for it; an idle one looks whenever
/// its wait for events runs out (every second in-process, five on JetStream).
const RETRY_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Where one consumer's dead letters go, and what it needs to announce them.
pub(super) struct DeadEnd {
    bus: EventBus,
    location: Location,
    /// The `source` of the `event.dead_lettered` events it emits.
    source: String,
    store: Option<DeadLetters>,
    pub(super) config: EventsConfig,
    next_check: Instant,
}

impl DeadEnd {
    pub(super) fn new(bus: &EventBus, consumer: &str) -> Self {
        let setup = bus.dead_letters();
        Self {
            bus: bus.clone(),
            location: Location::Consumer(consumer.to_owned()),
            source: format!("/latchkey/consumer/{consumer}"),
            store: setup.store.clone(),
            config: setup.config,
            next_check: Instant::now(),
        }
    }

    /// Records `event` as dead after `tries` failures, the last with `error`, and announces it.
    /// False when the bus has nowhere to put dead letters.
    pub(super) async fn bury(&self, event: &Envelope, error: &str, tries: u32) -> Result<bool, StorageError> {
        let Some(store) = &self.store else {
            return Ok(false);
        };
        let payload = event.to_json();
        let error = sanitize_error(error);
        let letter = NewDeadLetter {
            location: &self.location,
            event_id: &event.id,
            account: &event.account,
            event_type: &event.event_type,
            payload: &payload,
            error: &error,
            tries,
        };
        store.record(&letter).await?;
        dead_letter::report(&letter);
        if let Some(announcement) = dead_letter::announcement(&self.source, &letter)
            && let Err(err) = self.bus.publish(std::slice::from_ref(&announcement)).await
        {
            // The dead letter, the metric and the log above stand; only the event is missing.
            tracing::error!(event_id = %event.id, error = %err, "could not publish event.dead_lettered");
        }
        Ok(true)
    }

    /// Hands the handler, one at a time, the dead letters put back for this consumer; at most once a
    /// second. One that succeeds leaves the table; one that fails is dead again, one try more.
    pub(super) async fn redeliver_requested<H, Fut, E>(&mut self, handler: &mut H)
    where
        H: FnMut(Vec<Envelope>) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Display,
    {
        let Some(store) = self.store.clone() else {
            return;
        };
        if Instant::now() < self.next_check {
            return;
        }
        self.next_check = Instant::now() + RETRY_CHECK_INTERVAL;
        let consumer = match &self.location {
            Location::Consumer(name) => name.clone(),
            Location::Relay(source) => source.clone(),
        };
        let requested = match store.requested(&self.location).await {
            Ok(requested) => requested,
            Err(err) => {
                tracing::warn!(consumer, error = %err, "could not look for dead letters to retry");
                return;
            }
        };
        for letter in requested {
            match store.claim(&letter.id).await {
                Ok(true) => {}
                // Another instance of the consumer took it.
                Ok(false) => continue,
                Err(err) => {
                    tracing::warn!(consumer, error = %err, "could not take a dead letter to retry");
                    return;
                }
            }
            let Some(event) = letter.envelope() else {
                tracing::warn!(consumer, dead_letter = %letter.id, "a dead letter to retry does not decode; it stays dead");
                continue;
            };
            let span = batch_span(&consumer, std::slice::from_ref(&event));
            let kept = event.clone();
            let handled = handler(vec![event]).instrument(span.clone()).await;
            match handled {
                Ok(()) => {
                    metrics::counter!(crate::metric_names::EVENTS_CONSUMED, "consumer" => consumer.clone())
                        .increment(1);
                    tracing::info!(parent: &span, dead_letter = %letter.id, "a dead letter put back for retry was handled");
                    if let Err(err) = store.remove(&letter.id).await {
                        tracing::warn!(parent: &span, error = %err, "could not remove a handled dead letter");
                    }
                }
                Err(err) => {
                    let tries = letter.tries.saturating_add(1);
                    if let Err(err) = self.bury(&kept, &err.to_string(), tries).await {
                        tracing::warn!(parent: &span, error = %err, "could not record a retried dead letter's failure");
                    }
                }
            }
        }
    }
}
