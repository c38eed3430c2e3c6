//! Durable consumers of the in-process bus: each reads the event table after its cursor, and an
//! ack moves the cursor; a nak or an unsettled drop rewinds the reader to that event.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, PoisonError},
};

use latchkey_storage::sqlx;
use tokio::sync::watch;

use super::{
    LocalBus, POLL_INTERVAL,
    rows::{Stored, read_after},
};
use crate::{
    BusError, EventFilter,
    delivery::{
        Acker as DeliveryAcker, Delivery,
        local_acker::{Acker, Rewind},
    },
};

impl LocalBus {
    pub(crate) async fn durable(&self, name: &str, filter: EventFilter) -> Result<Durable, BusError> {
        let position: Option<i64> = sqlx::query_scalar("SELECT position FROM latchkey_bus_cursors WHERE consumer = $1")
            .bind(name)
            .fetch_optional(self.inner.db.pool())
            .await?;
        Ok(Durable {
            bus: self.clone(),
            name: name.into(),
            filter,
            read_after: position.unwrap_or(0),
            buffer: VecDeque::new(),
            rewind: Arc::new(Mutex::new(None)),
            published: self.inner.published.subscribe(),
        })
    }
}

/// A durable consumer reading the event table after its cursor.
pub(crate) struct Durable {
    bus: LocalBus,
    name: Arc<str>,
    filter: EventFilter,
    /// The last sequence number read from the table (delivered or filtered out).
    read_after: i64,
    buffer: VecDeque<Stored>,
    /// Set by a nak or an unsettled drop: read again from this event on.
    rewind: Arc<Mutex<Option<Rewind>>>,
    published: watch::Receiver<u64>,
}

impl Durable {
    pub(crate) async fn next(&mut self) -> Option<Result<Delivery, BusError>> {
        loop {
            if let Some(next) = self.next_or_idle().await {
                return Some(next);
            }
        }
    }

    /// The next event, or `None` when a poll interval went by with nothing.
    async fn next_or_idle(&mut self) -> Option<Result<Delivery, BusError>> {
        loop {
            let rewind = self.rewind.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(rewind) = rewind {
                self.buffer.clear();
                self.read_after = rewind.seq - 1;
                tokio::time::sleep_until(rewind.not_before).await;
            }
            if let Some(stored) = self.buffer.pop_front() {
                return Some(Ok(self.delivery(stored)));
            }
            // Mark the current generation seen before reading, so a publish landing after the
            // read still wakes us.
            self.published.borrow_and_update();
            if let Err(err) = self.read().await {
                return Some(Err(err));
            }
            if self.buffer.is_empty() {
                tokio::select! {
                    _ = self.published.changed() => {}
                    _ = tokio::time::sleep(POLL_INTERVAL) => return None,
                }
            }
        }
    }

    /// The next event and those after it that are stored already, up to `max` in all.
    pub(crate) async fn next_batch(&mut self, max: usize) -> Option<Result<Vec<Delivery>, BusError>> {
        loop {
            match self.next_batch_or_idle(max).await {
                Some(Ok(batch)) if batch.is_empty() => {}
                next => return next,
            }
        }
    }

    /// Like [`next_batch`](Self::next_batch), but empty when a poll interval went by with nothing:
    /// a moment for the caller to do other work.
    pub(crate) async fn next_batch_or_idle(&mut self, max: usize) -> Option<Result<Vec<Delivery>, BusError>> {
        let first = match self.next_or_idle().await {
            None => return Some(Ok(Vec::new())),
            Some(Ok(first)) => first,
            Some(Err(err)) => return Some(Err(err)),
        };
        let mut batch = vec![first];
        while batch.len() < max && !self.rewind_pending() {
            if let Some(stored) = self.buffer.pop_front() {
                batch.push(self.delivery(stored));
                continue;
            }
            // A failed read ends the batch here; the next call meets the error again.
            if self.read().await.is_err() || self.buffer.is_empty() {
                break;
            }
        }
        Some(Ok(batch))
    }

    fn rewind_pending(&self) -> bool {
        self.rewind.lock().unwrap_or_else(PoisonError::into_inner).is_some()
    }

    fn delivery(&self, stored: Stored) -> Delivery {
        let acker = Acker::new(
            self.bus.inner.db.clone(),
            self.name.clone(),
            stored.seq,
            self.rewind.clone(),
        );
        Delivery {
            envelope: stored.envelope,
            published_ms: Some(stored.published_ms),
            acker: DeliveryAcker::Local(acker),
        }
    }

    async fn read(&mut self) -> Result<(), BusError> {
        let rows = read_after(&self.bus.inner.db, self.read_after).await?;
        for row in rows {
            self.read_after = row.seq;
            if let Some(stored) = row.decode_if(|event_type| self.filter.matches_type(event_type)) {
                self.buffer.push_back(stored);
            }
        }
        Ok(())
    }
}
