//! The transactional outbox: a service writes its state change and the event describing it in one
//! database transaction, so an event exists if and only if its change was committed. The relay
//! ([`crate::relay`]) publishes the rows and deletes them once the bus has acknowledged them, or
//! moves a row the bus keeps refusing to the dead letters in the same database.

use std::sync::Arc;

use latchkey_storage::{Db, GroupCommit, GroupFailed, Lease, Migration, StorageError, migrations, now_ms, sqlx};
use sqlx::{Any, Transaction};
use tokio::sync::Notify;
use tracing::Instrument;

use crate::{
    DeadLetters, Envelope, access,
    dead_letter::{self, Location, NewDeadLetter},
};

/// The outbox's own migrations; every service sharing a database shares the one table, each
/// reading only the rows of its own `source`.
pub const MIGRATIONS: &[Migration] = migrations![(1, "0001_outbox")];

/// The PostgreSQL channel on which a replica that does not relay a source announces its commits
/// (payload: the source), so the replica that does publishes them at once.
pub const COMMITTED_CHANNEL: &str = "latchkey_outbox_committed";

/// How long a relay's hold on its source lasts without renewal: when the replica relaying a
/// source dies, another takes over within this.
pub const RELAY_LEASE: std::time::Duration = std::time::Duration::from_secs(10);

/// A service's outbox: where it enqueues events inside its transactions.
#[derive(Clone, Debug)]
pub struct Outbox {
    db: Db,
    source: Arc<str>,
    committed: Arc<Notify>,
    /// Which replica relays this source: one at a time, so rows are published once, not by every
    /// replica racing for them (the bus would drop the copies only within its duplicate window).
    relay_lease: Lease,
    /// Events written on their own ([`Outbox::write`]), committed together.
    group: Arc<GroupCommit<Envelope, ()>>,
}

/// The transaction of a group commit failed: none of its events was written.
#[derive(Clone, Debug, thiserror::Error)]
#[error("the outbox's group commit failed: {0}")]
pub struct GroupCommitFailed(Arc<str>);

/// The span in which `event` is written to the outbox: `outbox.enqueue`, a producer span in the
/// trace the event was made in, which the event then carries as its `traceparent`, so its
/// consumers' spans (`event.consume`) are children of this write rather than of the handler around
/// it. An event made outside any trace (in a background task, or with no trace export configured)
/// gets no span: it would be a trace of its own, of one span. Answers the span and the
/// `traceparent` the event is to carry instead of its own.
fn producer_span(event: &Envelope) -> (tracing::Span, Option<String>) {
    let Some(made_in) = event.traceparent.as_deref() else {
        return (tracing::Span::none(), None);
    };
    let span = tracing::info_span!(
        "outbox.enqueue",
        otel.kind = "producer",
        event_type = %event.event_type,
        event_id = %event.id,
    );
    latchkey_telemetry::follow_traceparent(&span, Some(made_in));
    let traceparent = span.in_scope(latchkey_telemetry::current_traceparent);
    (span, traceparent)
}

/// The most events one group commit writes (and one multi-row insert carries: 6 parameters each).
const GROUP_MAX: usize = 256;

impl Outbox {
    /// Opens the outbox of `source` (e.g. `/latchkey/agent-token`), creating its table if needed.
    pub async fn open(db: Db, source: &str) -> Result<Self, StorageError> {
        db.migrate("outbox", MIGRATIONS).await?;
        DeadLetters::open(db.clone()).await?;
        let relay_lease = Lease::open(db.clone(), &format!("outbox-relay:{source}"), RELAY_LEASE).await?;
        Ok(Self {
            db,
            source: source.into(),
            committed: Arc::new(Notify::new()),
            relay_lease,
            group: Arc::new(GroupCommit::new(GROUP_MAX)),
        })
    }

    /// Writes `event` alone (no other change goes with it), committed with the events other callers
    /// write at the same moment: one transaction, one insert and one commit for all of them, where
    /// each on its own would queue for SQLite's single writer or PostgreSQL's commit (a group
    /// commit). Returns once `event` is committed, or with the error of the transaction that would
    /// have written it (then nothing of that group was written). An event type the outbox's service
    /// does not publish ([`access`]) is refused at once.
    pub async fn write(&self, mut event: Envelope) -> Result<(), GroupCommitFailed> {
        access::check_publish(&self.source, &event.event_type)
            .map_err(|refused| GroupCommitFailed(refused.to_string().into()))?;
        let (span, traceparent) = producer_span(&event);
        if traceparent.is_some() {
            event.traceparent = traceparent;
        }
        self.write_traced(event).instrument(span).await
    }

    async fn write_traced(&self, event: Envelope) -> Result<(), GroupCommitFailed> {
        let write = |events: Vec<Envelope>| {
            let outbox = self.clone();
            async move {
                outbox
                    .write_group(&events)
                    .await
                    .map(|()| vec![(); events.len()])
                    .map_err(|error| GroupFailed(error.to_string().into()))
            }
        };
        self.group
            .submit(event, write)
            .await
            .map_err(|GroupFailed(why)| GroupCommitFailed(why))
    }

    /// One transaction inserting `events` in one statement.
    async fn write_group(&self, events: &[Envelope]) -> Result<(), StorageError> {
        let mut sql = String::from(
            "INSERT INTO latchkey_outbox (source, event_id, account, event_type, payload, created_at) VALUES ",
        );
        for index in 0..events.len() {
            let first = index * 6 + 1;
            if index > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${first}, ${}, ${}, ${}, ${}, ${})",
                first + 1,
                first + 2,
                first + 3,
                first + 4,
                first + 5
            ));
        }
        let now = now_ms();
        let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
        for event in events {
            insert = insert
                .bind(&*self.source)
                .bind(event.id.clone())
                .bind(event.account.clone())
                .bind(event.event_type.clone())
                .bind(event.to_json())
                .bind(now);
        }
        let mut tx = self.db.begin_write().await?;
        insert.execute(&mut *tx).await?;
        Ok(self.commit(tx).await?)
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The lease of the replica that relays this source.
    pub fn relay_lease(&self) -> &Lease {
        &self.relay_lease
    }

    /// Adds `event` to the transaction; it is published only if the transaction commits.
    /// An event type the outbox's service does not publish ([`access`]) is refused.
    pub async fn enqueue(&self, tx: &mut Transaction<'static, Any>, event: &Envelope) -> Result<(), sqlx::Error> {
        access::check_publish(&self.source, &event.event_type)
            .map_err(|refused| sqlx::Error::Encode(refused.into()))?;
        let (span, traceparent) = producer_span(event);
        let payload = match traceparent {
            Some(traceparent) => Envelope {
                traceparent: Some(traceparent),
                ..event.clone()
            }
            .to_json(),
            None => event.to_json(),
        };
        sqlx::query(
            "INSERT INTO latchkey_outbox (source, event_id, account, event_type, payload, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&*self.source)
        .bind(&event.id)
        .bind(&event.account)
        .bind(&event.event_type)
        .bind(payload)
        .bind(now_ms())
        .execute(&mut **tx)
        .instrument(span)
        .await?;
        Ok(())
    }

    /// Commits `tx` and wakes the relay, so the events go out now rather than at the next poll:
    /// this process's relay, or (on PostgreSQL, when another replica relays this source) that
    /// replica's, through [`COMMITTED_CHANNEL`].
    pub async fn commit(&self, tx: Transaction<'static, Any>) -> Result<(), sqlx::Error> {
        tx.commit().await?;
        self.committed.notify_one();
        if !self.relay_lease.is_held()
            && let Err(error) = self.db.notify(COMMITTED_CHANNEL, &self.source).await
        {
            // The relaying replica finds the rows at its next poll.
            tracing::debug!(source = %self.source, %error, "could not announce an outbox commit");
        }
        Ok(())
    }

    /// Wakes the relay: for a commit another replica announced.
    pub(crate) fn wake(&self) {
        self.committed.notify_one();
    }

    /// How many of this source's events wait to be published: the relay's backlog.
    pub async fn pending(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM latchkey_outbox WHERE source = $1")
            .bind(&*self.source)
            .fetch_one(self.db.pool())
            .await
    }

    /// This source's oldest `limit` rows, oldest first.
    pub(crate) async fn oldest(&self, limit: i64) -> Result<Vec<PendingRow>, sqlx::Error> {
        let rows: Vec<(i64, String, String, String, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, event_id, account, event_type, payload FROM latchkey_outbox WHERE source = $1 \
             ORDER BY seq LIMIT $2",
        )
        .bind(&*self.source)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, event_id, account, event_type, payload)| PendingRow {
                seq,
                event_id,
                account,
                event_type,
                payload,
            })
            .collect())
    }

    /// Moves `row` to the dead letters, with `event.dead_lettered` enqueued in the same transaction
    /// (none for a dead `event.dead_lettered`). False when the row was gone already (another
    /// instance of the relay moved or published it).
    pub(crate) async fn dead_letter(&self, row: &PendingRow, error: &str, tries: u32) -> Result<bool, StorageError> {
        let location = Location::Relay(self.source.to_string());
        let letter = NewDeadLetter {
            location: &location,
            event_id: &row.event_id,
            account: &row.account,
            event_type: &row.event_type,
            payload: &row.payload,
            error,
            tries,
        };
        let mut tx = self.db.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM latchkey_outbox WHERE source = $1 AND seq = $2")
            .bind(&*self.source)
            .bind(row.seq)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Ok(false);
        }
        letter.insert(&mut tx).await?;
        if let Some(announcement) = dead_letter::announcement(&self.source, &letter) {
            self.enqueue(&mut tx, &announcement).await?;
        }
        self.commit(tx).await?;
        dead_letter::report(&letter);
        Ok(true)
    }

    /// Deletes exactly the rows `seqs`: never a range, since on PostgreSQL a row with a smaller
    /// `seq` can commit after a larger one was read.
    pub(crate) async fn remove(&self, seqs: &[i64]) -> Result<(), sqlx::Error> {
        if seqs.is_empty() {
            return Ok(());
        }
        let placeholders: Vec<String> = (2..seqs.len() + 2).map(|n| format!("${n}")).collect();
        let sql = format!(
            "DELETE FROM latchkey_outbox WHERE source = $1 AND seq IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&*self.source);
        for seq in seqs {
            query = query.bind(*seq);
        }
        query.execute(self.db.pool()).await?;
        Ok(())
    }

    /// Resolves when a commit has enqueued something since the last call.
    pub(crate) async fn committed(&self) {
        self.committed.notified().await;
    }
}

/// One enqueued event as the relay reads it.
#[derive(Clone)]
pub(crate) struct PendingRow {
    pub(crate) seq: i64,
    pub(crate) event_id: String,
    pub(crate) account: String,
    pub(crate) event_type: String,
    pub(crate) payload: Vec<u8>,
}
