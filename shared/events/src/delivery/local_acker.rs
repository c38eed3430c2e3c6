//! Settling events of a durable local consumer: an ack moves its cursor in the bus's table; a nak,
//! or a delivery dropped unsettled, asks its reader (`local::durable`) to rewind to the event.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use latchkey_storage::{Db, now_ms, sqlx};
use tokio::time::Instant;

use crate::BusError;

/// Where a durable consumer reads again from, set by a nak or an unsettled drop.
#[derive(Clone, Copy)]
pub(crate) struct Rewind {
    pub(crate) seq: i64,
    pub(crate) not_before: Instant,
}

/// Settles one event of a durable local consumer.
pub(crate) struct Acker {
    db: Db,
    consumer: Arc<str>,
    seq: i64,
    rewind: Arc<Mutex<Option<Rewind>>>,
    settled: bool,
}

impl Acker {
    pub(crate) fn new(db: Db, consumer: Arc<str>, seq: i64, rewind: Arc<Mutex<Option<Rewind>>>) -> Self {
        Self {
            db,
            consumer,
            seq,
            rewind,
            settled: false,
        }
    }

    /// Moves the consumer's cursor to this event, never backwards.
    pub(crate) async fn ack(mut self) -> Result<(), BusError> {
        sqlx::query(
            "INSERT INTO latchkey_bus_cursors (consumer, position, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (consumer) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at \
             WHERE latchkey_bus_cursors.position < excluded.position",
        )
        .bind(&*self.consumer)
        .bind(self.seq)
        .bind(now_ms())
        .execute(self.db.pool())
        .await?;
        self.settled = true;
        Ok(())
    }

    /// Settled by a later event's ack, which moves the cursor past this one.
    fn covered(mut self) {
        self.settled = true;
    }

    pub(crate) fn nak(mut self, delay: Duration) {
        self.request_redelivery(Instant::now() + delay);
    }

    fn request_redelivery(&mut self, not_before: Instant) {
        self.settled = true;
        let mut rewind = self.rewind.lock().unwrap_or_else(PoisonError::into_inner);
        // Two pending redeliveries: the earlier event wins, the later one follows it anyway.
        if rewind.is_none_or(|pending| self.seq < pending.seq) {
            *rewind = Some(Rewind {
                seq: self.seq,
                not_before,
            });
        }
    }
}

/// Acknowledges events of one consumer together: one cursor move, to the last of them.
pub(crate) async fn ack_all(ackers: Vec<Acker>) -> Result<(), BusError> {
    let Some(last) = ackers.iter().map(|acker| acker.seq).max() else {
        return Ok(());
    };
    let mut to_ack = None;
    for acker in ackers {
        if acker.seq == last && to_ack.is_none() {
            to_ack = Some(acker);
        } else {
            acker.covered();
        }
    }
    match to_ack {
        Some(acker) => acker.ack().await,
        None => Ok(()),
    }
}

impl Drop for Acker {
    fn drop(&mut self) {
        if !self.settled {
            self.request_redelivery(Instant::now());
        }
    }
}
