//! The transactional outbox: a service writes its state change and the event describing it in one
//! database transaction, so an event exists if and only if its change was committed. The relay
//! ([`crate::relay`]) publishes the rows and deletes them once the bus has acknowledged them.

use std::sync::Arc;

use latchkey_storage::{Db, Migration, StorageError, migrations, now_ms, sqlx};
use sqlx::{Any, Transaction};
use tokio::sync::Notify;

use crate::Envelope;

/// The outbox's own migrations; every service sharing a database shares the one table, each
/// reading only the rows of its own `source`.
pub const MIGRATIONS: &[Migration] = migrations![(1, "0001_outbox")];

/// A service's outbox: where it enqueues events inside its transactions.
#[derive(Clone, Debug)]
pub struct Outbox {
    db: Db,
    source: Arc<str>,
    committed: Arc<Notify>,
}

impl Outbox {
    /// Opens the outbox of `source` (e.g. `/latchkey/agent-token`), creating its table if needed.
    pub async fn open(db: Db, source: &str) -> Result<Self, StorageError> {
        db.migrate("outbox", MIGRATIONS).await?;
        Ok(Self {
            db,
            source: source.into(),
            committed: Arc::new(Notify::new()),
        })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Adds `event` to the transaction; it is published only if the transaction commits.
    pub async fn enqueue(&self, tx: &mut Transaction<'static, Any>, event: &Envelope) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO latchkey_outbox (source, event_id, account, event_type, payload, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&*self.source)
        .bind(&event.id)
        .bind(&event.account)
        .bind(&event.event_type)
        .bind(event.to_json())
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Commits `tx` and wakes the relay, so the events go out now rather than at the next poll.
    pub async fn commit(&self, tx: Transaction<'static, Any>) -> Result<(), sqlx::Error> {
        tx.commit().await?;
        self.committed.notify_one();
        Ok(())
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
        let rows: Vec<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, payload FROM latchkey_outbox WHERE source = $1 ORDER BY seq LIMIT $2")
                .bind(&*self.source)
                .bind(limit)
                .fetch_all(self.db.pool())
                .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, payload)| PendingRow { seq, payload })
            .collect())
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
pub(crate) struct PendingRow {
    pub(crate) seq: i64,
    pub(crate) payload: Vec<u8>,
}
