//! The consumer loop every service runs: hand each event (or each batch of events) to the handler
//! in order, ack on success, ask for it again after a growing delay on failure, and reopen the
//! subscription whenever the bus goes away. One loop serves both: a one-at-a-time consumer is a
//! batch consumer whose batches hold one event.

use std::{collections::HashSet, fmt::Display, pin::Pin, pin::pin, time::Duration};

use tracing::Instrument;

use crate::{Envelope, EventBus, EventFilter, backoff::Backoff, bus::Batch};

/// First and longest wait before reopening a subscription that failed.
const RECONNECT_INITIAL: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// First and longest delay before an event (a batch) whose handler failed comes again.
const RETRY_INITIAL: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// The most traces a batch's span links to: OpenTelemetry's default limit of links per span.
const MAX_LINKED_TRACES: usize = 128;

/// Runs the durable consumer `name` until `shutdown` resolves.
///
/// Each event is handled in order by `handler`, inside a span `event.consume` (fields
/// `event_type`, `event_id`) that continues the envelope's `traceparent`. `Ok` acks the event;
/// `Err` is logged and the event comes again after 100 ms, then doubling up to 30 s while it keeps
/// failing, before any later event. An event being handled when `shutdown` resolves is finished
/// and settled first. Delivery is at least once: handlers must be idempotent, deduplicating by
/// event id.
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
    let one_at_a_time = move |events: Vec<Envelope>| {
        let event = events.into_iter().next().expect("a batch holds at least one event");
        handler(event)
    };
    consume(bus, name, filter, 1, one_at_a_time, shutdown).await;
}

/// Runs the durable consumer `name` until `shutdown` resolves, handing `handler` the events in
/// batches: every event that is ready when the previous batch is settled, up to `max_batch`, in
/// order. A lone event is handed over at once; nothing waits to fill a batch.
///
/// `Ok` acks every event of the batch. `Err` is logged and the whole batch comes again (with
/// whatever else is ready by then, up to `max_batch`) after 100 ms, then doubling up to 30 s while
/// the batch starting with the same event keeps failing, before any later event. A batch being
/// handled when `shutdown` resolves is finished and settled first. Delivery is at least once, so an
/// event may come twice, in one batch or in two: handlers must deduplicate by event id.
///
/// Tracing: a batch of one is handled in the `event.consume` span of [`run_consumer`]; a larger
/// batch in one `event.consume_batch` span (fields `events`, `first_event_id`, `last_event_id`),
/// a new trace linked to each distinct trace its events carry (up to 128, OpenTelemetry's default
/// limit), rather than a span per event that would claim to time work done for all of them.
pub async fn run_batch_consumer<H, Fut, E>(
    bus: EventBus,
    name: String,
    filter: EventFilter,
    max_batch: usize,
    handler: H,
    shutdown: impl Future<Output = ()>,
) where
    H: FnMut(Vec<Envelope>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    consume(bus, name, filter, max_batch, handler, shutdown).await;
}

/// The one consumer loop: open, take a batch, handle and settle it, reopen after failures.
async fn consume<H, Fut, E>(
    bus: EventBus,
    name: String,
    filter: EventFilter,
    max_batch: usize,
    mut handler: H,
    shutdown: impl Future<Output = ()>,
) where
    H: FnMut(Vec<Envelope>) -> Fut,
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
            opened = bus.durable_batches(&name, filter.clone(), max_batch) => opened,
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
                next = subscription.next_batch() => next,
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
                Some(Ok(batch)) => {
                    reconnect.reset();
                    if let Flow::Stop = handle(&name, batch, &mut handler, &mut retries, shutdown.as_mut()).await {
                        return;
                    }
                }
            }
        }
    }
}

/// Whether the loop goes on after a batch.
enum Flow {
    Continue,
    Stop,
}

/// Runs the handler on one batch and settles it.
async fn handle<H, Fut, E>(
    consumer: &str,
    mut batch: Batch,
    handler: &mut H,
    retries: &mut Retries,
    shutdown: Pin<&mut impl Future<Output = ()>>,
) -> Flow
where
    H: FnMut(Vec<Envelope>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let span = batch_span(consumer, batch.envelopes());
    let Some(first_id) = batch.envelopes().first().map(|event| event.id.clone()) else {
        return Flow::Continue;
    };
    let events = batch.len() as u64;
    // Only the message of a failure is kept, so a handler's error type need not be `Send`.
    let failure = handler(batch.take_envelopes())
        .instrument(span.clone())
        .await
        .err()
        .map(|err| err.to_string());
    let Some(failure) = failure else {
        retries.succeeded();
        metrics::counter!(crate::metric_names::EVENTS_CONSUMED, "consumer" => consumer.to_owned()).increment(events);
        if let Err(err) = batch.ack().instrument(span.clone()).await {
            // Not consumed after all: the bus redelivers, and the handler is idempotent.
            tracing::warn!(parent: &span, error = %err, "could not acknowledge the events");
        }
        return Flow::Continue;
    };
    metrics::counter!(crate::metric_names::EVENTS_FAILED, "consumer" => consumer.to_owned()).increment(events);
    let delay = retries.failed(&first_id);
    tracing::warn!(parent: &span, error = %failure, events, retry_in_ms = delay.as_millis() as u64, "event handler failed");
    // The batch is held through the delay and asked for again only then, rather than nak'ed with a
    // delay: JetStream would meanwhile deliver the events after it to a consumer allowed more than
    // one unacknowledged event. Nothing is asked for while it is held, so the redelivered batch
    // comes before anything later. Shutdown cuts the wait short and hands the batch back at once.
    let flow = tokio::select! {
        biased;
        _ = shutdown => Flow::Stop,
        _ = tokio::time::sleep(delay) => Flow::Continue,
    };
    if let Err(err) = batch.nak().instrument(span.clone()).await {
        // Unsettled events come again after the bus's ack wait.
        tracing::warn!(parent: &span, error = %err, "could not ask for the events again");
    }
    flow
}

/// The span a batch is handled in: `event.consume`, continuing the event's trace, for one event;
/// `event.consume_batch`, linked to the events' traces, for more.
fn batch_span(consumer: &str, events: &[Envelope]) -> tracing::Span {
    if let [event] = events {
        let span = tracing::info_span!(
            "event.consume",
            consumer,
            event_type = %event.event_type,
            event_id = %event.id,
        );
        latchkey_telemetry::follow_traceparent(&span, event.traceparent.as_deref());
        return span;
    }
    let span = tracing::info_span!(
        "event.consume_batch",
        consumer,
        events = events.len(),
        first_event_id = events.first().map(|event| event.id.as_str()),
        last_event_id = events.last().map(|event| event.id.as_str()),
    );
    // A burst caused by one request shares its trace: link each trace (by its trace id, the
    // second field of `version-traceid-parentid-flags`) once.
    let mut linked = HashSet::new();
    for traceparent in events.iter().filter_map(|event| event.traceparent.as_deref()) {
        if linked.len() == MAX_LINKED_TRACES {
            break;
        }
        let trace_id = traceparent.split('-').nth(1).unwrap_or(traceparent);
        if linked.insert(trace_id) {
            latchkey_telemetry::link_traceparent(&span, traceparent);
        }
    }
    span
}

/// The growing retry delay of the event (the batch, by its first event) that keeps failing.
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
