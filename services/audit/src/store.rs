//! Appending to and reading from the chains. Every query names the account.

use latchkey_events::Envelope;
use latchkey_storage::{is_unique_violation, sqlx};
use serde_json::Value;

use crate::{
    Audit, AuditError,
    chain::{ChainEntry, GENESIS_HASH, entry_hash, write_canonical},
};

/// How many times an append retries after losing the head to a concurrent appender.
const APPEND_ATTEMPTS: usize = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    NewestFirst,
    OldestFirst,
}

/// A page request over one account's chain.
#[derive(Clone, Debug)]
pub struct EntryQuery {
    /// Only entries of this event type, when set.
    pub event_type: Option<String>,
    /// Continue after this seq (exclusive), in the query's order.
    pub cursor: Option<i64>,
    pub limit: u32,
    pub order: Order,
}

type EntryRow = (
    String,
    i64,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
);

const COLUMNS: &str =
    "account_id, seq, event_id, event_type, time_ms, actor, subject, decision_id, data, prev_hash, hash";

fn entry_from_row(row: EntryRow) -> ChainEntry {
    let (account_id, seq, event_id, event_type, time_ms, actor, subject, decision_id, data, prev_hash, hash) = row;
    ChainEntry {
        account_id,
        seq,
        event_id,
        event_type,
        time_ms,
        actor,
        subject,
        decision_id,
        data: serde_json::from_str(&data).unwrap_or(Value::Null),
        prev_hash,
        hash,
    }
}

impl Audit {
    /// Appends `event` to its account's chain. Idempotent: an event already in the chain is not
    /// appended again (returns false), so redelivery never duplicates an entry.
    pub async fn append(&self, event: &Envelope) -> Result<bool, AuditError> {
        for _ in 0..APPEND_ATTEMPTS {
            let mut tx = self.db.begin_write().await?;
            let seen: Option<i64> = sqlx::query_scalar("SELECT seq FROM audit_entries WHERE event_id = $1")
                .bind(&event.id)
                .fetch_optional(&mut *tx)
                .await?;
            if seen.is_some() {
                return Ok(false);
            }
            let head: Option<(i64, String)> =
                sqlx::query_as("SELECT seq, hash FROM audit_entries WHERE account_id = $1 ORDER BY seq DESC LIMIT 1")
                    .bind(&event.account)
                    .fetch_optional(&mut *tx)
                    .await?;
            let (prev_seq, prev_hash) = head.unwrap_or((0, GENESIS_HASH.to_owned()));
            let mut entry = ChainEntry {
                account_id: event.account.clone(),
                seq: prev_seq + 1,
                event_id: event.id.clone(),
                event_type: event.event_type.clone(),
                time_ms: event.time.timestamp_millis(),
                actor: event.actor.clone().unwrap_or_else(|| "system".to_owned()),
                subject: event.subject.clone().unwrap_or_default(),
                decision_id: event.decisionid.clone().unwrap_or_default(),
                data: event.data.clone(),
                prev_hash: prev_hash.clone(),
                hash: String::new(),
            };
            entry.hash = entry_hash(&entry, &prev_hash);
            let mut data = Vec::new();
            write_canonical(&entry.data, &mut data);
            let inserted = sqlx::query(
                "INSERT INTO audit_entries (account_id, seq, event_id, event_type, time_ms, actor, subject, \
                 decision_id, data, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&entry.account_id)
            .bind(entry.seq)
            .bind(&entry.event_id)
            .bind(&entry.event_type)
            .bind(entry.time_ms)
            .bind(&entry.actor)
            .bind(&entry.subject)
            .bind(&entry.decision_id)
            .bind(String::from_utf8_lossy(&data).into_owned())
            .bind(&entry.prev_hash)
            .bind(&entry.hash)
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => {
                    tx.commit().await?;
                    return Ok(true);
                }
                // Another appender took this position (or this event) first: look again.
                Err(err) if is_unique_violation(&err) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Err(AuditError::Contended)
    }

    /// One page of `account_id`'s chain, and the cursor of the next page if there is one.
    pub async fn list_entries(
        &self,
        account_id: &str,
        query: &EntryQuery,
    ) -> Result<(Vec<ChainEntry>, Option<i64>), AuditError> {
        let limit = i64::from(query.limit.clamp(1, 1000));
        let event_type = query.event_type.clone().unwrap_or_default();
        let sql = match query.order {
            Order::NewestFirst => sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM audit_entries WHERE account_id = $1 AND ($2 = '' OR event_type = $2) \
                 AND seq < $3 ORDER BY seq DESC LIMIT $4"
            )),
            Order::OldestFirst => sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM audit_entries WHERE account_id = $1 AND ($2 = '' OR event_type = $2) \
                 AND seq > $3 ORDER BY seq ASC LIMIT $4"
            )),
        };
        let cursor = match (query.order, query.cursor) {
            (_, Some(cursor)) => cursor,
            (Order::NewestFirst, None) => i64::MAX,
            (Order::OldestFirst, None) => 0,
        };
        let rows: Vec<EntryRow> = sqlx::query_as(sql)
            .bind(account_id)
            .bind(event_type)
            .bind(cursor)
            .bind(limit + 1)
            .fetch_all(self.db.pool())
            .await?;
        let mut entries: Vec<ChainEntry> = rows.into_iter().map(entry_from_row).collect();
        let next = if entries.len() as i64 > limit {
            entries.truncate(limit as usize);
            entries.last().map(|e| e.seq)
        } else {
            None
        };
        Ok((entries, next))
    }

    /// The whole of `account_id`'s chain, oldest first, read in pages.
    pub async fn chain_of(&self, account_id: &str) -> Result<Vec<ChainEntry>, AuditError> {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let query = EntryQuery {
                event_type: None,
                cursor,
                limit: 1000,
                order: Order::OldestFirst,
            };
            let (page, next) = self.list_entries(account_id, &query).await?;
            all.extend(page);
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(all),
            }
        }
    }
}
