//! The consumer loop every service runs: handle each event in order, ack on success, nak with a
//! growing delay on failure, and reopen the subscription whenever the bus goes away.

use std::{fmt::Display, pin::pin, time::Duration};

use tracing::Instrument;

use crate::{Envelope, EventBus, EventFilter, backoff::Backoff, bus::Delivery};

/// First and longest wait before reopening a subscription that failed.
const RECONNECT_INITIAL: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// First and longest delay before an event whose handler failed comes again.
const RETRY_INITIAL: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Runs the durable consumer `name` until `shutdown` resolves.
///
/// Each event is handled in order by `handler`, inside a span `event.consume` (fields
/// `event_type`, `event_id`) that continues the envelope's `traceparent`. `Ok` acks the event;
/// `Err` is logged and the event is nak'ed, coming back after 100 ms, then doubling up to 30 s
/// while it keeps failing, before any later event. An event being handled when `shutdown`
/// resolves is finished and settled first. Delivery is at least once: handlers must be
/// idempotent, deduplicating by event id.
pub async fn run_consumer<H, Fut, E>(
    bus: EventBus,
    name: String,
    filter: EventFilter,
    mut handler: H,
    shutdown: impl Future<Output = ()>,
) where
    H: FnMut(Envelope) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let mut shutdown = pin!(shutdown);
    let mut reconnect = Backoff::new(RECONNECT_INITIAL, RECONNECT_MAX);
    let mut retries = Retries::default();
    loop {
        let opened = tokio::select! {
            biased;
            _ = shutdown.as_mut() => return,
            opened = bus.durable(&name, filter.clone()) => opened,
        };
        let mut subscription = match opened {
            Ok(subscription) => subscription,
            Err(err) => {
                let delay = reconnect.next_delay();
                tracing::warn!(consumer = %name, error = %err, retry_in_ms = delay.as_millis() as u64, "could not open the event consumer");
                tokio::select! {
                    biased;
                    _ = shutdown.as_mut() => return,
                    _ = tokio::time::sleep(delay) => continue,
                }
            }
        };
        loop {
            let next = tokio::select! {
                biased;
                _ = shutdown.as_mut() => return,
                next = subscription.next() => next,
            };
            match next {
                // The subscription ended for good: open it again.
                None => break,
                Some(Err(err)) => {
                    let delay = reconnect.next_delay();
                    tracing::warn!(consumer = %name, error = %err, retry_in_ms = delay.as_millis() as u64, "event consumer lost the bus");
                    tokio::select! {
                        biased;
                        _ = shutdown.as_mut() => return,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
                Some(Ok(delivery)) => {
                    reconnect.reset();
                    handle(&name, delivery, &mut handler, &mut retries).await;
                }
            }
        }
    }
}

/// Runs the handler on one delivery and settles it.
async fn handle<H, Fut, E>(consumer: &str, delivery: Delivery, handler: &mut H, retries: &mut Retries)
where
    H: FnMut(Envelope) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let span = tracing::info_span!(
        "event.consume",
        consumer,
        event_type = %delivery.envelope.event_type,
        event_id = %delivery.envelope.id,
    );
    latchkey_telemetry::follow_traceparent(&span, delivery.envelope.traceparent.as_deref());
    let event_id = delivery.envelope.id.clone();
    // Only the message of a failure is kept, so a handler's error type need not be `Send`.
    let failure = handler(delivery.envelope.clone())
        .instrument(span.clone())
        .await
        .err()
        .map(|err| err.to_string());
    match failure {
        None => {
            retries.succeeded();
            metrics::counter!(crate::metric_names::EVENTS_CONSUMED, "consumer" => consumer.to_owned()).increment(1);
            if let Err(err) = delivery.ack().instrument(span.clone()).await {
                // Not consumed after all: the bus redelivers it, and the handler is idempotent.
                tracing::warn!(parent: &span, error = %err, "could not acknowledge the event");
            }
        }
        Some(failure) => {
            metrics::counter!(crate::metric_names::EVENTS_FAILED, "consumer" => consumer.to_owned()).increment(1);
            let delay = retries.failed(&event_id);
            tracing::warn!(parent: &span, error = %failure, retry_in_ms = delay.as_millis() as u64, "event handler failed");
            if let Err(err) = delivery.nak(delay).instrument(span.clone()).await {
                tracing::warn!(parent: &span, error = %err, "could not ask for the event again");
            }
        }
    }
}

/// The growing retry delay of the event that keeps failing.
#[derive(Default)]
struct Retries {
    failing: Option<(String, Backoff)>,
}

impl Retries {
    fn failed(&mut self, event_id: &str) -> Duration {
        match &mut self.failing {
            Some((id, backoff)) if id == event_id => backoff.next_delay(),
            _ => {
                let mut backoff = Backoff::new(RETRY_INITIAL, RETRY_MAX);
                let delay = backoff.next_delay();
                self.failing = Some((event_id.to_owned(), backoff));
                delay
            }
        }
    }

    fn succeeded(&mut self) {
        self.failing = None;
    }
}
