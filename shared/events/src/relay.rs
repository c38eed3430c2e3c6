//! The relay: moves committed outbox rows onto the bus, oldest first, and deletes them only once
//! the bus has acknowledged them. A broker outage delays events; it never loses one.

use std::{pin::pin, time::Duration};

use futures::FutureExt;

use crate::{BusError, Envelope, EventBus, Outbox, backoff::Backoff};

/// Rows published per round trip to the bus.
const BATCH: i64 = 256;
/// How often the relay looks for rows it was not woken for: other instances share the table,
/// and a restart finds leftovers.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
const RETRY_INITIAL: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// How long a shutdown may spend publishing what is left; the rest waits for the next start.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// Publishes `outbox`'s rows to `bus` until `shutdown` resolves, then makes one bounded attempt
/// to publish what is left. Woken by [`Outbox::commit`]; polls every 250 ms as well. On a bus or
/// database error the rows stay, and it retries after a backoff of 100 ms doubling to 5 s.
pub async fn run_relay(outbox: Outbox, bus: EventBus, shutdown: impl Future<Output = ()>) {
    let mut shutdown = pin!(shutdown);
    let mut backoff = Backoff::new(RETRY_INITIAL, RETRY_MAX);
    loop {
        let wait = match relay_batch(&outbox, &bus).await {
            Ok(relayed) => {
                backoff.reset();
                if relayed == BATCH as usize {
                    // More may be waiting: go again at once, unless we are asked to stop.
                    if shutdown.as_mut().now_or_never().is_some() {
                        break;
                    }
                    continue;
                }
                None
            }
            Err(err) => {
                let delay = backoff.next_delay();
                tracing::warn!(
                    source = outbox.source(),
                    error = %err,
                    retry_in_ms = delay.as_millis() as u64,
                    "relay could not publish the outbox; keeping its rows"
                );
                Some(delay)
            }
        };
        match wait {
            None => tokio::select! {
                biased;
                _ = shutdown.as_mut() => break,
                _ = outbox.committed() => {}
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
            },
            Some(delay) => tokio::select! {
                biased;
                _ = shutdown.as_mut() => break,
                _ = tokio::time::sleep(delay) => {}
            },
        }
    }
    drain(&outbox, &bus).await;
}

/// Publishes what is left in the outbox, once, within [`DRAIN_LIMIT`].
async fn drain(outbox: &Outbox, bus: &EventBus) {
    let drained = tokio::time::timeout(DRAIN_LIMIT, async {
        loop {
            match relay_batch(outbox, bus).await {
                Ok(relayed) if relayed == BATCH as usize => {}
                Ok(_) => return,
                Err(err) => {
                    tracing::warn!(source = outbox.source(), error = %err, "relay left rows in the outbox at shutdown");
                    return;
                }
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            source = outbox.source(),
            "relay stopped draining the outbox at shutdown: took too long"
        );
    }
}

/// Publishes the oldest rows and deletes them; returns how many rows it handled.
async fn relay_batch(outbox: &Outbox, bus: &EventBus) -> Result<usize, BusError> {
    let rows = outbox.oldest(BATCH).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut events = Vec::with_capacity(rows.len());
    for row in &rows {
        match Envelope::from_json(&row.payload) {
            Ok(event) => events.push(event),
            // Only a row not written by `Outbox::enqueue` can fail here, and no consumer could
            // read it either: dropping it beats blocking every event behind it forever.
            Err(err) => tracing::error!(seq = row.seq, error = %err, "dropping an undecodable outbox row"),
        }
    }
    bus.publish(&events).await?;
    metrics::counter!(crate::metric_names::EVENTS_PUBLISHED, "source" => outbox.source().to_owned())
        .increment(events.len() as u64);
    let seqs: Vec<i64> = rows.iter().map(|row| row.seq).collect();
    outbox.remove(&seqs).await?;
    Ok(rows.len())
}
