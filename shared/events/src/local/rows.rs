//! Reading the event table: rows after a sequence number, decoded into events.

use latchkey_storage::{Db, sqlx};

use super::READ_BATCH;
use crate::{BusError, Envelope};

/// An event read from the table: its sequence number, publish time (ms) and envelope.
pub(super) struct Stored {
    pub(super) seq: i64,
    pub(super) published_ms: i64,
    pub(super) envelope: Envelope,
}

/// One row of the event table, not yet decoded.
pub(super) struct Row {
    pub(super) seq: i64,
    event_type: String,
    payload: Vec<u8>,
    pub(super) published_at: i64,
}

impl Row {
    /// The event, when `wanted(event_type)` and its payload decodes (an undecodable one is logged
    /// and skipped: it would never decode on a later try either).
    pub(super) fn decode_if(self, wanted: impl FnOnce(&str) -> bool) -> Option<Stored> {
        if !wanted(&self.event_type) {
            return None;
        }
        match Envelope::from_json(&self.payload) {
            Ok(envelope) => Some(Stored {
                seq: self.seq,
                published_ms: self.published_at,
                envelope,
            }),
            Err(err) => {
                tracing::error!(seq = self.seq, error = %err, "skipping an undecodable event");
                None
            }
        }
    }
}

/// Up to [`READ_BATCH`] events after sequence number `seq`, in order.
pub(super) async fn read_after(db: &Db, seq: i64) -> Result<Vec<Row>, BusError> {
    let rows: Vec<(i64, String, Vec<u8>, i64)> = sqlx::query_as(
        "SELECT seq, event_type, payload, published_at FROM latchkey_bus_events WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(seq)
    .bind(READ_BATCH)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(seq, event_type, payload, published_at)| Row {
            seq,
            event_type,
            payload,
            published_at,
        })
        .collect())
}
