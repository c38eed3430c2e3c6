//! The consumer loop every service runs: hand each event (or each batch of events) to the handler
//! in order, ack on success, ask for it again after a growing delay on failure, and reopen the
//! subscription whenever the bus goes away. One loop serves both: a one-at-a-time consumer is a
//! batch consumer whose batches hold one event. An event that keeps failing is dead-lettered
//! (`dead`), and a batch that keeps failing is taken apart to find it (`attempts`).

mod attempts;
mod dead;

use std::{collections::HashSet, fmt::Display, pin::Pin, pin::pin, time::Duration};

use tracing::Instrument;

use crate::{Batch, Envelope, EventBus, EventFilter, backoff::Backoff};
use attempts::Attempts;
use dead::DeadEnd;

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
/// failing, before any later event. After `consumer_max_attempts` failures in a row
/// (`revocation_max_attempts` for a revocation) it is dead-lettered, if the bus has a dead-letter
/// database, and the next event comes. Dead letters put back for retry are handed to the handler
/// too, out of order. An event being handled when `shutdown` resolves is finished and settled
/// first. Delivery is at least once: handlers must be idempotent, deduplicating by event id.
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
/// the batch starting with the same event keeps failing, before any later event. Should it fail
/// twice, its events come one at a time until its last one is settled, so an event that keeps
/// failing is found, counted and dead-lettered alone, as in [`run_consumer`]. A batch being
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

/// The consumer loop, with its state on the bus sampled for the operators' metrics meanwhile.
async fn consume<H, Fut, E>(
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
    let sampling = sample_state(bus.clone(), name.clone());
    tokio::select! {
        () = consume_events(bus, name, filter, max_batch, handler, shutdown) => {}
        () = sampling => {}
    }
}

/// How often a consumer's state on the bus is sampled.
const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// Sets the consumer's gauges (`latchkey_consumer_*`) every [`SAMPLE_INTERVAL`], for ever.
async fn sample_state(bus: EventBus, name: String) {
    use crate::metric_names::{CONSUMER_PENDING, CONSUMER_REDELIVERED, CONSUMER_UNACKNOWLEDGED};
    loop {
        if let Ok(Some(state)) = bus.consumer_state(&name).await {
            metrics::gauge!(CONSUMER_PENDING, "consumer" => name.clone()).set(state.pending as f64);
            metrics::gauge!(CONSUMER_UNACKNOWLEDGED, "consumer" => name.clone()).set(state.unacknowledged as f64);
            metrics::gauge!(CONSUMER_REDELIVERED, "consumer" => name.clone()).set(state.redelivered as f64);
        }
        tokio::time::sleep(SAMPLE_INTERVAL).await;
    }
}

/// The one consumer loop: open, take a batch, handle and settle it, reopen after failures.
async fn consume_events<H, Fut, E>(
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
    let mut attempts = Attempts::default();
    let mut dead_end = DeadEnd::new(&bus, &name);
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
        // The batch fetched while the one before it was handled, handled next.
        let mut ahead: Option<Batch> = None;
        loop {
            dead_end.redeliver_requested(&mut handler).await;
            let next = match ahead.take() {
                Some(batch) => tokio::select! {
                    biased;
                    _ = shutdown.as_mut() => {
                        hand_back_ahead(&name, batch).await;
                        return;
                    }
                    () = std::future::ready(()) => Some(Ok(Some(batch))),
                },
                None => tokio::select! {
                    biased;
                    _ = shutdown.as_mut() => return,
                    next = subscription.poll_batch(attempts.batch_size(max_batch)) => next,
                },
            };
            match next {
                // The subscription ended for good: open it again.
                None => break,
                // Nothing came for a while: time to look for dead letters put back.
                Some(Ok(None)) => attempts.idle(),
                Some(Err(err)) => {
                    let delay = reconnect.next_delay();
                    tracing::warn!(consumer = %name, error = %err, retry_in_ms = delay.as_millis() as u64, "event consumer lost the bus");
                    tokio::select! {
                        biased;
                        _ = shutdown.as_mut() => return,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
                Some(Ok(Some(batch))) => {
                    reconnect.reset();
                    // A full batch says more is waiting: fetch the next one while this one is
                    // handled, so the bus and the handler work at the same time.
                    let fetch_ahead = max_batch > 1 && batch.len() == max_batch;
                    let settle = Settle {
                        consumer: &name,
                        attempts: &mut attempts,
                        dead_end: &dead_end,
                    };
                    let fetching = async {
                        if !fetch_ahead {
                            return None;
                        }
                        subscription
                            .poll_ready(max_batch)
                            .await
                            .inspect_err(|err| tracing::debug!(consumer = %name, error = %err, "could not fetch the next batch ahead"))
                            .ok()
                            .flatten()
                    };
                    let (outcome, fetched) =
                        tokio::join!(handle(settle, batch, &mut handler, shutdown.as_mut()), fetching);
                    match outcome {
                        Outcome::Settled => ahead = fetched,
                        Outcome::Retry | Outcome::Stop => {
                            // Behind the batch just handed back, so the bus redelivers both in order.
                            if let Some(fetched) = fetched {
                                hand_back_ahead(&name, fetched).await;
                            }
                            if let Outcome::Stop = outcome {
                                return;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Asks again for a batch fetched ahead that will not be handled now: after the batch before it
/// was handed back, or when the consumer stops. Unsettled, it would come again after the bus's ack
/// wait anyway.
async fn hand_back_ahead(consumer: &str, batch: Batch) {
    if let Err(err) = batch.nak().await {
        tracing::warn!(consumer, error = %err, "could not hand back the batch fetched ahead");
    }
}

/// How a batch ended.
enum Outcome {
    /// Acknowledged or dead-lettered: the loop goes on with the next.
    Settled,
    /// Handed back to come again after its delay: the loop goes on.
    Retry,
    /// Shutdown came while a failed batch waited: handed back, and the loop ends.
    Stop,
}

/// What settling a batch needs of the consumer loop.
struct Settle<'a> {
    consumer: &'a str,
    attempts: &'a mut Attempts,
    dead_end: &'a DeadEnd,
}

/// Runs the handler on one batch and settles it: ack, dead-letter, or ask for it again.
async fn handle<H, Fut, E>(
    settle: Settle<'_>,
    mut batch: Batch,
    handler: &mut H,
    shutdown: Pin<&mut impl Future<Output = ()>>,
) -> Outcome
where
    H: FnMut(Vec<Envelope>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let Settle {
        consumer,
        attempts,
        dead_end,
    } = settle;
    let span = batch_span(consumer, batch.envelopes());
    let (Some(first), Some(last)) = (batch.envelopes().first(), batch.envelopes().last()) else {
        return Outcome::Settled;
    };
    let (first_id, last_id) = (first.id.clone(), last.id.clone());
    let events = batch.len() as u64;
    // Only an event handled alone can be dead-lettered, and the handler takes it: keep a copy.
    let alone = (batch.len() == 1).then(|| first.clone());
    // Only the message of a failure is kept, so a handler's error type need not be `Send`.
    let failure = handler(batch.take_envelopes())
        .instrument(span.clone())
        .await
        .err()
        .map(|err| err.to_string());
    let Some(failure) = failure else {
        attempts.settled(&last_id);
        metrics::counter!(crate::metric_names::EVENTS_CONSUMED, "consumer" => consumer.to_owned()).increment(events);
        if let Err(err) = batch.ack().instrument(span.clone()).await {
            // Not consumed after all: the bus redelivers, and the handler is idempotent.
            tracing::warn!(parent: &span, error = %err, "could not acknowledge the events");
        }
        return Outcome::Settled;
    };
    metrics::counter!(crate::metric_names::EVENTS_FAILED, "consumer" => consumer.to_owned()).increment(events);
    let failed = attempts.failed(&first_id, &last_id, batch.len());
    if let Some(event) = alone {
        let limit = dead_end.config.consumer_limit(&event.event_type);
        if failed.tries >= limit {
            match dead_end
                .bury(&event, &failure, failed.tries)
                .instrument(span.clone())
                .await
            {
                Ok(true) => {
                    attempts.settled(&last_id);
                    if let Err(err) = batch.ack().instrument(span.clone()).await {
                        // It comes again, and is dead-lettered again in its turn (the same row).
                        tracing::warn!(parent: &span, error = %err, "could not acknowledge a dead-lettered event");
                    }
                    return Outcome::Settled;
                }
                Ok(false) => {
                    tracing::error!(parent: &span, tries = failed.tries, limit, "event keeps failing and this bus has no dead-letter database: retrying it");
                }
                Err(err) => {
                    tracing::warn!(parent: &span, error = %err, "could not dead-letter an event that keeps failing: retrying it");
                }
            }
        }
    }
    let delay = failed.delay;
    tracing::warn!(parent: &span, error = %failure, events, tries = failed.tries, retry_in_ms = delay.as_millis() as u64, "event handler failed");
    // The batch is held through the delay and asked for again only then, rather than nak'ed with a
    // delay: JetStream would meanwhile deliver the events after it to a consumer allowed more than
    // one unacknowledged event. Nothing is asked for while it is held, so the redelivered batch
    // comes before anything later. Shutdown cuts the wait short and hands the batch back at once.
    let outcome = tokio::select! {
        biased;
        _ = shutdown => Outcome::Stop,
        _ = tokio::time::sleep(delay) => Outcome::Retry,
    };
    if let Err(err) = batch.nak().instrument(span.clone()).await {
        // Unsettled events come again after the bus's ack wait.
        tracing::warn!(parent: &span, error = %err, "could not ask for the events again");
    }
    outcome
}

/// The span a batch is handled in: `event.consume`, continuing the event's trace, for one event;
/// `event.consume_batch`, linked to the events' traces, for more.
fn batch_span(consumer: &str, events: &[Envelope]) -> tracing::Span {
    if let [event] = events {
        let span = tracing::info_span!(
            "event.consume",
            otel.kind = "consumer",
            consumer,
            event_type = %event.event_type,
            event_id = %event.id,
        );
        latchkey_telemetry::follow_traceparent(&span, event.traceparent.as_deref());
        return span;
    }
    let span = tracing::info_span!(
        "event.consume_batch",
        otel.kind = "consumer",
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
