//! The relay: moves committed outbox rows onto the bus, oldest first, and deletes them only once
//! the bus has acknowledged them. A broker outage delays events; it never loses one. A row the bus
//! refuses for good is held (the rows behind it wait, so order holds) for the bus's budget of tries,
//! then moved to the dead letters, and the queue moves on; revocations behind it do not wait.
//!
//! Replicas of a service share its outbox: one of them relays it, the holder of the source's
//! lease ([`Outbox::relay_lease`]); the others stand by and take over when it runs out.

use std::{pin::pin, time::Duration};

use futures::FutureExt;

use crate::{
    BusError, Envelope, EventBus, Outbox, backoff::Backoff, dead_letter, dead_letter::sanitize_error,
    delivery::PublishFailure, outbox::PendingRow,
};

/// Rows published per round trip to the bus.
const BATCH: i64 = 256;
/// How often the relay looks for rows it was not woken for: other instances share the table,
/// and a restart finds leftovers.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
const RETRY_INITIAL: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// How often a replica that does not relay the source asks whether the relaying one is gone.
const STANDBY_POLL: Duration = Duration::from_secs(1);
/// How long a shutdown may spend publishing what is left; the rest waits for the next start.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// Publishes `outbox`'s rows to `bus` until `shutdown` resolves, then makes one bounded attempt
/// to publish what is left. Woken by [`Outbox::commit`]; polls every 250 ms as well. On a bus or
/// database error the rows stay, and it retries after a backoff of 100 ms doubling to 5 s.
///
/// A row the bus refuses for good (larger than NATS' `max_payload` or the stream's largest
/// message, an invalid subject) is tried again on that backoff, holding the rows behind it, until
/// it was refused `relay_max_attempts` times (`revocation_max_attempts` for a revocation): then it
/// moves to the dead letters and the rows behind it go out. Revocation-class rows behind a held row
/// are published at once, ahead of it. Only refusals count: an outage counts against no row.
pub async fn run_relay(outbox: Outbox, bus: EventBus, shutdown: impl Future<Output = ()>) {
    let announced = wake_on_announced_commits(outbox.clone());
    tokio::select! {
        () = relay(outbox, bus, shutdown) => {}
        () = announced => {}
    }
}

/// How long the listener for other replicas' commits waits before connecting again.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// Wakes the relay whenever another replica announces a commit to this source (PostgreSQL's
/// `LISTEN`); runs until dropped. Announcements lost while the listener reconnects are found by
/// the relay's poll.
async fn wake_on_announced_commits(outbox: Outbox) {
    loop {
        let mut listener = match outbox.db().listener(crate::outbox::COMMITTED_CHANNEL).await {
            Ok(Some(listener)) => listener,
            // SQLite: one process, whose commits wake the relay directly.
            Ok(None) => return std::future::pending().await,
            Err(error) => {
                tracing::debug!(source = outbox.source(), %error, "cannot listen for other replicas' commits");
                tokio::time::sleep(LISTEN_RETRY).await;
                continue;
            }
        };
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) if notification.payload() == outbox.source() => outbox.wake(),
                Ok(Some(_)) => {}
                // The connection dropped: the next receive reconnects.
                Ok(None) => outbox.wake(),
                Err(_) => break,
            }
        }
        tokio::time::sleep(LISTEN_RETRY).await;
    }
}

/// The relay's loop (see [`run_relay`]).
async fn relay(outbox: Outbox, bus: EventBus, shutdown: impl Future<Output = ()>) {
    let mut shutdown = pin!(shutdown);
    let mut backoff = Backoff::new(RETRY_INITIAL, RETRY_MAX);
    let mut refused = Refused::default();
    let mut sampled_at: Option<tokio::time::Instant> = None;
    loop {
        let round = match outbox.relay_lease().acquire_lazily().await {
            Ok(true) => {
                if sampled_at.is_none_or(|at| at.elapsed() >= BACKLOG_SAMPLE_INTERVAL) {
                    sampled_at = Some(tokio::time::Instant::now());
                    sample_backlog(&outbox).await;
                }
                relay_batch(&outbox, &bus, &mut refused).await
            }
            Ok(false) => Ok(Round::Standby),
            Err(err) => Err(err.into()),
        };
        let wait = match round {
            Ok(Round::Again) => {
                backoff.reset();
                // More may be waiting: go again at once, unless we are asked to stop.
                if shutdown.as_mut().now_or_never().is_some() {
                    break;
                }
                continue;
            }
            Ok(Round::Done) => {
                backoff.reset();
                None
            }
            Ok(Round::Held) => Some(backoff.next_delay()),
            Ok(Round::Standby) => {
                refused = Refused::default();
                Some(STANDBY_POLL)
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
    // Only the relaying replica drains, and then hands the source over at once.
    if matches!(outbox.relay_lease().acquire_lazily().await, Ok(true)) {
        drain(&outbox, &bus, &mut refused).await;
        if let Err(err) = outbox.relay_lease().release().await {
            tracing::warn!(source = outbox.source(), error = %err, "relay could not hand its lease over");
        }
    }
}

/// Publishes what is left in the outbox, once, within [`DRAIN_LIMIT`].
async fn drain(outbox: &Outbox, bus: &EventBus, refused: &mut Refused) {
    let drained = tokio::time::timeout(DRAIN_LIMIT, async {
        loop {
            match relay_batch(outbox, bus, refused).await {
                Ok(Round::Again) => {}
                Ok(Round::Done | Round::Held | Round::Standby) => return,
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

/// How often the relaying replica counts its outbox's backlog.
const BACKLOG_SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// Sets `latchkey_outbox_backlog` for the outbox's source.
async fn sample_backlog(outbox: &Outbox) {
    if let Ok(rows) = outbox.pending().await {
        metrics::gauge!(crate::metric_names::OUTBOX_BACKLOG, "source" => outbox.source().to_owned()).set(rows as f64);
    }
}

/// What a round of the relay left.
enum Round {
    /// It made progress and more may be waiting.
    Again,
    /// The outbox is empty (as far as this round saw).
    Done,
    /// The oldest row was refused and is held: try again after a backoff.
    Held,
    /// Another replica relays this source.
    Standby,
}

/// How many times the bus refused the row at the head of the outbox, by its `seq`.
#[derive(Default)]
struct Refused {
    head: Option<(i64, u32)>,
}

impl Refused {
    /// Counts one more refusal of `seq`; answers how many there were in a row.
    fn count(&mut self, seq: i64) -> u32 {
        let tries = match self.head {
            Some((head, tries)) if head == seq => tries + 1,
            _ => 1,
        };
        self.head = Some((seq, tries));
        tries
    }
}

/// Publishes the oldest rows and deletes them, holding or dead-lettering a refused one.
async fn relay_batch(outbox: &Outbox, bus: &EventBus, refused: &mut Refused) -> Result<Round, BusError> {
    let rows = outbox.oldest(BATCH).await?;
    if rows.is_empty() {
        return Ok(Round::Done);
    }
    let mut events = Vec::with_capacity(rows.len());
    for row in &rows {
        match Envelope::from_json(&row.payload) {
            Ok(event) => events.push(event),
            // Only a row not written by `Outbox::enqueue` can fail here, and no consumer could
            // read it either: it could only block every event behind it.
            Err(err) => {
                let error = sanitize_error(&format!("undecodable outbox row: {err}"));
                outbox.dead_letter(row, &error, 1).await?;
            }
        }
    }
    if events.len() < rows.len() {
        return Ok(Round::Again);
    }
    let Err(failure) = publish(outbox, bus, &rows, &events).await else {
        return Ok(if rows.len() == BATCH as usize {
            Round::Again
        } else {
            Round::Done
        });
    };
    if !failure.refused {
        return Err(failure.error);
    }
    let row = &rows[failure.stored];
    let tries = refused.count(row.seq);
    let limit = bus.dead_letters().config.relay_limit(&row.event_type);
    let error = sanitize_error(&failure.error.to_string());
    if tries >= limit {
        outbox.dead_letter(row, &error, tries).await?;
        return Ok(Round::Again);
    }
    let (source, event_id, event_type) = (outbox.source(), &row.event_id, &row.event_type);
    if dead_letter::is_revocation(event_type) {
        // A revocation refused: alert now, not only once it is dead-lettered.
        tracing::error!(source, event_id, event_type, tries, limit, %error, "the bus refused a revocation event; holding it");
    } else {
        tracing::warn!(source, event_id, event_type, tries, limit, %error, "the bus refused an outbox row; holding it and the rows behind it");
    }
    let behind = failure.stored + 1;
    overtake(outbox, bus, &rows[behind..], &events[behind..]).await?;
    Ok(Round::Held)
}

/// Publishes `events` (of `rows`) in order and deletes the rows the bus stored.
async fn publish(
    outbox: &Outbox,
    bus: &EventBus,
    rows: &[PendingRow],
    events: &[Envelope],
) -> Result<(), PublishFailure> {
    let published = bus.publish_in_order(events).await;
    let stored = match &published {
        Ok(()) => events.len(),
        Err(failure) => failure.stored,
    };
    if stored > 0 {
        metrics::counter!(crate::metric_names::EVENTS_PUBLISHED, "source" => outbox.source().to_owned())
            .increment(stored as u64);
        let seqs: Vec<i64> = rows[..stored].iter().map(|row| row.seq).collect();
        if let Err(err) = outbox.remove(&seqs).await {
            // Published but not deleted: published again next round, and dropped as duplicates.
            return Err(PublishFailure {
                stored: 0,
                refused: false,
                error: err.into(),
            });
        }
    }
    published
}

/// Publishes the revocation-class rows among `rows` (those behind a held one) ahead of it: a
/// refused row must not keep a revocation from the verifiers and caches it is for.
async fn overtake(outbox: &Outbox, bus: &EventBus, rows: &[PendingRow], events: &[Envelope]) -> Result<(), BusError> {
    let (rows, events): (Vec<PendingRow>, Vec<Envelope>) = rows
        .iter()
        .zip(events)
        .filter(|(row, _)| dead_letter::is_revocation(&row.event_type))
        .map(|(row, event)| (row.clone(), event.clone()))
        .unzip();
    if rows.is_empty() {
        return Ok(());
    }
    match publish(outbox, bus, &rows, &events).await {
        Ok(()) => {
            let source = outbox.source();
            tracing::info!(
                source,
                revocations = rows.len(),
                "revocations overtook a held outbox row"
            );
            Ok(())
        }
        // A refused revocation waits for its turn at the head, where it is counted.
        Err(failure) if failure.refused => Ok(()),
        Err(failure) => Err(failure.error),
    }
}

#[cfg(test)]
mod tests;
