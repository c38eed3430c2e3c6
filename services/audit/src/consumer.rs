//! The consumer: every event on the bus, appended to its account's chain, by one replica at a time.
//!
//! Why one: a chain is in the order its events were published. Two replicas pulling batches from
//! the one durable consumer would append interleaved batches in whichever order their transactions
//! commit. So the replicas share a lease (`audit-consumer`): its holder consumes and renews it in
//! every append transaction (a replica that was overtaken appends nothing); the others stand by and
//! take over when it runs out (its holder died, or lost the database) or is handed over (its holder
//! stopped). Before taking the first batch, a new holder waits until the events its predecessor
//! was handed and never settled are back on the stream: they come again first, and new events
//! behind them, so the order holds across a takeover too.
//!
//! Exactly once does not rest on the lease: an event already in a chain is skipped by its id.

use std::time::Duration;

use latchkey_events::{EventBus, EventFilter};
use latchkey_storage::Lease;
use tokio_util::sync::CancellationToken;

use crate::{Audit, AuditError, CONSUMER, CONSUMER_BATCH, CONSUMER_LEASE};

/// The lease the replicas take turns on.
const LEASE_NAME: &str = "audit-consumer";
/// How often a standing-by replica asks whether the lease is free, and the holder renews it.
const LEASE_POLL: Duration = Duration::from_secs(2);
/// How often a new holder looks whether its predecessor's unsettled events are back.
const SETTLE_POLL: Duration = Duration::from_millis(250);
/// The longest a new holder waits for them: a little over the bus's ack wait (30 s), after which
/// they are back on the stream whatever the consumer's state says.
const SETTLE_LIMIT: Duration = Duration::from_secs(35);

impl Audit {
    /// Consumes every event from `bus` into the chains, when and while this replica holds the
    /// consumer's lease, until `shutdown` is cancelled; then hands the lease over. The events come
    /// in batches of up to [`CONSUMER_BATCH`], each appended in one transaction (`append_batch`,
    /// which skips event ids already in a chain, so a redelivered batch or event is appended once).
    pub async fn consume(self, bus: EventBus, shutdown: CancellationToken) {
        let Some(lease) = self.open_lease(&shutdown).await else {
            return;
        };
        while self.stand_by(&lease, &shutdown).await {
            self.wait_until_settled(&bus, &shutdown).await;
            tracing::info!(holder = lease.holder(), "this replica consumes the audit stream");
            let holding = shutdown.child_token();
            tokio::join!(
                self.consume_holding(&bus, &lease, holding.clone()),
                keep_renewing(&lease, holding.clone()),
            );
            if shutdown.is_cancelled() {
                if let Err(error) = lease.release().await {
                    tracing::warn!(%error, "could not hand the audit consumer's lease over");
                }
                return;
            }
            tracing::warn!(holder = lease.holder(), "lost the audit consumer's lease; standing by");
        }
    }

    async fn open_lease(&self, shutdown: &CancellationToken) -> Option<Lease> {
        loop {
            match Lease::open(self.db.clone(), LEASE_NAME, CONSUMER_LEASE).await {
                Ok(lease) => return Some(lease),
                Err(error) => tracing::warn!(%error, "cannot open the audit consumer's lease; retrying"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                _ = tokio::time::sleep(LEASE_POLL) => {}
            }
        }
    }

    /// Waits until this replica holds the lease: true, or false when shut down first.
    async fn stand_by(&self, lease: &Lease, shutdown: &CancellationToken) -> bool {
        loop {
            match lease.acquire().await {
                Ok(true) => return true,
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "cannot take the audit consumer's lease"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return false,
                _ = tokio::time::sleep(LEASE_POLL) => {}
            }
        }
    }

    /// Waits until no event of the consumer is handed out and unsettled (the bus's ack wait at
    /// most, when the previous holder died holding a batch).
    async fn wait_until_settled(&self, bus: &EventBus, shutdown: &CancellationToken) {
        let started = tokio::time::Instant::now();
        while started.elapsed() < SETTLE_LIMIT {
            match bus.consumer_state(CONSUMER).await {
                Ok(None) => return,
                Ok(Some(state)) if state.unacknowledged == 0 => return,
                Ok(Some(state)) => {
                    tracing::debug!(
                        unsettled = state.unacknowledged,
                        "waiting for the previous holder's batch"
                    )
                }
                Err(error) => tracing::warn!(%error, "cannot read the audit consumer's state"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(SETTLE_POLL) => {}
            }
        }
    }

    /// Runs the bus consumer until `holding` is cancelled: at shutdown, or when an append found
    /// the lease taken over.
    async fn consume_holding(&self, bus: &EventBus, lease: &Lease, holding: CancellationToken) {
        let audit = self.clone();
        let lease = lease.clone();
        let lost = holding.clone();
        latchkey_events::run_batch_consumer(
            bus.clone(),
            CONSUMER.to_owned(),
            EventFilter::all(),
            CONSUMER_BATCH,
            move |events| {
                let (audit, lease, lost) = (audit.clone(), lease.clone(), lost.clone());
                async move {
                    let appended = audit.append_batch_holding(&events, Some(&lease)).await;
                    if matches!(appended, Err(AuditError::LeaseLost)) {
                        // Stop before the consumer counts this as a failed try of the batch.
                        lost.cancel();
                    }
                    appended.map(|_| ())
                }
            },
            holding.cancelled_owned(),
        )
        .await;
    }
}

/// Renews the lease every [`LEASE_POLL`] while `holding` lasts; cancels `holding` when another
/// replica has it, or when it could not be renewed for as long as it lasts.
async fn keep_renewing(lease: &Lease, holding: CancellationToken) {
    let mut renewed_at = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = holding.cancelled() => return,
            _ = tokio::time::sleep(LEASE_POLL) => {}
        }
        match lease.acquire().await {
            Ok(true) => renewed_at = tokio::time::Instant::now(),
            Ok(false) => break,
            Err(error) => {
                tracing::warn!(%error, "cannot renew the audit consumer's lease");
                if renewed_at.elapsed() >= CONSUMER_LEASE {
                    break;
                }
            }
        }
    }
    holding.cancel();
}
