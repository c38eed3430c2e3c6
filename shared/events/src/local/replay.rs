//! Replays on the in-process bus. History and new events come from the same place: the event
//! table, read in sequence order after the last row seen. Publishers write rows in sequence order
//! (one writer at a time on SQLite, the publish lock on PostgreSQL), so a reader that only ever
//! asks for `seq > last` can neither skip a row nor see one twice, however publishing and the
//! start of the replay interleave: there is no hand-over from a history read to a live feed.

use std::collections::VecDeque;

use latchkey_storage::sqlx;
use tokio::sync::watch;

use super::{
    LocalBus, POLL_INTERVAL, READ_BATCH,
    rows::{Stored, read_after},
};
use crate::{BusError, EventFilter, delivery::Acker as DeliveryAcker, delivery::Delivery, delivery::Step};

/// A replay of the event table from a publish time on.
pub(crate) struct Replay {
    bus: LocalBus,
    filter: EventFilter,
    /// Events published before this (ms since the epoch) are skipped.
    since_ms: i64,
    /// The last sequence number read from the table (delivered or skipped).
    read_after: i64,
    /// The highest sequence number stored when the replay started: the end of its history.
    history_end: i64,
    caught_up_reported: bool,
    buffer: VecDeque<Stored>,
    published: watch::Receiver<u64>,
}

impl LocalBus {
    pub(crate) async fn replay(&self, filter: EventFilter, since_ms: i64) -> Result<Replay, BusError> {
        // Watch for publishes before looking at the table, so one landing in between still wakes us.
        let published = self.inner.published.subscribe();
        // One statement, so both numbers describe the same moment. Starting at the first row
        // published at or after `since` only saves reading older rows: each row's time is checked
        // again as it is read.
        let (last, first): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT (SELECT MAX(seq) FROM latchkey_bus_events), \
                    (SELECT MIN(seq) FROM latchkey_bus_events WHERE published_at >= $1)",
        )
        .bind(since_ms)
        .fetch_one(self.inner.db.pool())
        .await?;
        let history_end = last.unwrap_or(0);
        Ok(Replay {
            bus: self.clone(),
            filter,
            since_ms,
            read_after: first.map_or(history_end, |seq| seq - 1),
            history_end,
            caught_up_reported: false,
            buffer: VecDeque::new(),
            published,
        })
    }
}

impl Replay {
    pub(crate) async fn next(&mut self) -> Option<Result<Step, BusError>> {
        loop {
            if self.must_report_caught_up() {
                self.caught_up_reported = true;
                return Some(Ok(Step::CaughtUp));
            }
            if let Some(stored) = self.buffer.pop_front() {
                return Some(Ok(Step::Event(Delivery {
                    envelope: stored.envelope,
                    published_ms: Some(stored.published_ms),
                    acker: DeliveryAcker::Live,
                })));
            }
            // Mark the current generation seen before reading, so a publish landing after the
            // read still wakes us.
            self.published.borrow_and_update();
            let more_stored = match self.read().await {
                Ok(more_stored) => more_stored,
                Err(err) => return Some(Err(err)),
            };
            if self.buffer.is_empty() && !more_stored && !self.must_report_caught_up() {
                tokio::select! {
                    _ = self.published.changed() => {}
                    _ = tokio::time::sleep(POLL_INTERVAL) => {}
                }
            }
        }
    }

    /// True when the history has been handed out but that was not yet said.
    fn must_report_caught_up(&self) -> bool {
        !self.caught_up_reported
            && self.read_after >= self.history_end
            && self.buffer.front().is_none_or(|stored| stored.seq > self.history_end)
    }

    /// Reads the next batch of rows into the buffer, keeping the wanted ones. True when the batch
    /// was full, so more rows may be stored already.
    async fn read(&mut self) -> Result<bool, BusError> {
        let rows = read_after(self.bus.db(), self.read_after).await?;
        let full = rows.len() as i64 >= READ_BATCH;
        for row in rows {
            self.read_after = row.seq;
            // Publish times follow sequence order unless the clock stepped back, so check each.
            if row.published_at < self.since_ms {
                continue;
            }
            if let Some(stored) = row.decode_if(|event_type| self.filter.matches_type(event_type)) {
                self.buffer.push_back(stored);
            }
        }
        Ok(full)
    }
}
