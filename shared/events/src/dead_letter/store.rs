//! The `latchkey_dead_letters` table: recording a dead letter, listing them, and putting one back
//! (onto its outbox, or up for its consumer to take again).

use chrono::{DateTime, Utc};
use latchkey_ids::DeadLetterId;
use latchkey_storage::{Db, StorageError, now_ms, sqlx};
use sqlx::{Any, Transaction};

use super::{Location, MIGRATIONS};
use crate::Envelope;

/// The columns every query reads, in [`DeadLetterRow`] order.
const COLUMNS: &str =
    "id, location, event_id, account, event_type, payload, last_error, tries, dead_at, retry_requested_at";

type DeadLetterRow = (
    String,
    String,
    String,
    String,
    String,
    Vec<u8>,
    String,
    i64,
    i64,
    Option<i64>,
);

/// One dead letter. Its `Debug` leaves the envelope out: the event's data is not for logs.
#[derive(Clone)]
pub struct DeadLetter {
    /// A [`DeadLetterId`]: `dl_` and 16 characters of the ids' alphabet.
    pub id: String,
    /// `relay:<source>` or `consumer:<name>`.
    pub location: String,
    pub event_id: String,
    pub account: String,
    pub event_type: String,
    /// The last error, sanitized ([`super::sanitize_error`]).
    pub last_error: String,
    pub tries: u32,
    /// When it was (last) dead-lettered.
    pub dead_at: DateTime<Utc>,
    /// A consumer's dead letter put up for retry, not yet taken by the consumer.
    pub retry_requested: bool,
    payload: Vec<u8>,
}

impl DeadLetter {
    fn from_row(row: DeadLetterRow) -> Self {
        let (id, location, event_id, account, event_type, payload, last_error, tries, dead_at, retry) = row;
        Self {
            id,
            location,
            event_id,
            account,
            event_type,
            last_error,
            tries: u32::try_from(tries).unwrap_or(u32::MAX),
            dead_at: DateTime::from_timestamp_millis(dead_at).unwrap_or_default(),
            retry_requested: retry.is_some(),
            payload,
        }
    }

    /// The dead event; `None` when what was stored does not decode (a row the relay could not read).
    pub fn envelope(&self) -> Option<Envelope> {
        Envelope::from_json(&self.payload).ok()
    }
}

impl std::fmt::Debug for DeadLetter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetter")
            .field("id", &self.id)
            .field("location", &self.location)
            .field("event_id", &self.event_id)
            .field("event_type", &self.event_type)
            .field("tries", &self.tries)
            .finish_non_exhaustive()
    }
}

/// What a retry did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Retried {
    /// Back in the outbox of this source; its relay publishes it within a poll.
    Outbox(String),
    /// Up for this consumer, which hands it to its handler within a few seconds.
    Consumer(String),
}

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("no dead letter {0}")]
    NotFound(String),
    #[error("dead letter {0} has an unknown location")]
    UnknownLocation(String),
    #[error("dead letters: {0}")]
    Storage(#[from] StorageError),
    #[error("dead letters database: {0}")]
    Database(#[from] sqlx::Error),
}

/// A dead letter to record.
pub(crate) struct NewDeadLetter<'a> {
    pub(crate) location: &'a Location,
    pub(crate) event_id: &'a str,
    pub(crate) account: &'a str,
    pub(crate) event_type: &'a str,
    pub(crate) payload: &'a [u8],
    /// Already sanitized.
    pub(crate) error: &'a str,
    pub(crate) tries: u32,
}

impl NewDeadLetter<'_> {
    /// Records it in `tx`; a second death of the same event at the same place updates the first.
    pub(crate) async fn insert(&self, tx: &mut Transaction<'static, Any>) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO latchkey_dead_letters \
             (id, location, event_id, account, event_type, payload, last_error, tries, dead_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (location, event_id) DO UPDATE SET payload = excluded.payload, \
             last_error = excluded.last_error, tries = excluded.tries, dead_at = excluded.dead_at, \
             retry_requested_at = NULL",
        )
        .bind(DeadLetterId::new().into_string())
        .bind(self.location.to_string())
        .bind(self.event_id)
        .bind(self.account)
        .bind(self.event_type)
        .bind(self.payload)
        .bind(self.error)
        .bind(i64::from(self.tries))
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

/// The dead letters of one database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct DeadLetters {
    db: Db,
}

impl DeadLetters {
    /// Opens the dead letters in `db`, creating the table if needed.
    pub async fn open(db: Db) -> Result<Self, StorageError> {
        db.migrate("dead_letters", MIGRATIONS).await?;
        Ok(Self { db })
    }

    /// Every dead letter, oldest first.
    pub async fn list(&self) -> Result<Vec<DeadLetter>, sqlx::Error> {
        let sql = format!("SELECT {COLUMNS} FROM latchkey_dead_letters ORDER BY dead_at, id");
        let rows: Vec<DeadLetterRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.db.pool())
            .await?;
        Ok(rows.into_iter().map(DeadLetter::from_row).collect())
    }

    /// Puts the dead letter `id` back: a relay's onto its outbox (removing it from this table, in
    /// one transaction), a consumer's up for the consumer to take (it leaves the table once handled).
    pub async fn retry(&self, id: &str) -> Result<Retried, DeadLetterError> {
        let mut tx = self.db.begin_write().await?;
        let sql = format!("SELECT {COLUMNS} FROM latchkey_dead_letters WHERE id = $1");
        let row: Option<DeadLetterRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let letter = DeadLetter::from_row(row.ok_or_else(|| DeadLetterError::NotFound(id.to_owned()))?);
        let retried = match Location::parse(&letter.location) {
            Some(Location::Relay(source)) => {
                sqlx::query(
                    "INSERT INTO latchkey_outbox (source, event_id, account, event_type, payload, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
                )
                .bind(&source)
                .bind(&letter.event_id)
                .bind(&letter.account)
                .bind(&letter.event_type)
                .bind(&letter.payload)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM latchkey_dead_letters WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                Retried::Outbox(source)
            }
            Some(Location::Consumer(name)) => {
                sqlx::query("UPDATE latchkey_dead_letters SET retry_requested_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await?;
                Retried::Consumer(name)
            }
            None => return Err(DeadLetterError::UnknownLocation(id.to_owned())),
        };
        tx.commit().await?;
        Ok(retried)
    }

    /// Records a consumer's dead letter.
    pub(crate) async fn record(&self, letter: &NewDeadLetter<'_>) -> Result<(), StorageError> {
        let mut tx = self.db.begin_write().await?;
        letter.insert(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The dead letters of `location` put up for retry, oldest request first.
    pub(crate) async fn requested(&self, location: &Location) -> Result<Vec<DeadLetter>, sqlx::Error> {
        let sql = format!(
            "SELECT {COLUMNS} FROM latchkey_dead_letters WHERE location = $1 AND retry_requested_at IS NOT NULL \
             ORDER BY retry_requested_at, id LIMIT 32"
        );
        let rows: Vec<DeadLetterRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(location.to_string())
            .fetch_all(self.db.pool())
            .await?;
        Ok(rows.into_iter().map(DeadLetter::from_row).collect())
    }

    /// Takes a dead letter put up for retry: true for exactly one taker. Until it is handled and
    /// removed it counts as dead again, so a taker that dies leaves it listed, not lost.
    pub(crate) async fn claim(&self, id: &str) -> Result<bool, sqlx::Error> {
        let claimed = sqlx::query(
            "UPDATE latchkey_dead_letters SET retry_requested_at = NULL WHERE id = $1 AND retry_requested_at IS NOT NULL",
        )
        .bind(id)
        .execute(self.db.pool())
        .await?;
        Ok(claimed.rows_affected() == 1)
    }

    /// Removes a dead letter that was handled after all.
    pub(crate) async fn remove(&self, id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM latchkey_dead_letters WHERE id = $1")
            .bind(id)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }
}
