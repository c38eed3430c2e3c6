//! From events to messages. The consumer calls [`Webhook::accept`] for every event; it writes one
//! message per matching active endpoint of the event's account, in one transaction, idempotently
//! (a redelivered event finds its messages already there). The body is built here, once: every
//! delivery of a message sends exactly these bytes.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use latchkey_events::Envelope;
use latchkey_ids::{AccountId, MessageId};
use latchkey_storage::{now_ms, sqlx};
use serde_json::{Value, json};

use crate::{Webhook, WebhookError, patterns};

/// The most events the consumer hands [`Webhook::accept_all`] at once.
pub(crate) const CONSUMER_BATCH: usize = 200;

/// The most accounts one read of endpoints names.
const MAX_ACCOUNTS_PER_READ: usize = CONSUMER_BATCH;

/// The Standard Webhooks body of an event: `{type, timestamp, data}`. `data` is the event's payload
/// with the event id, and the decision id when the event records a decision (the same id as its
/// audit entry's).
pub(crate) fn body_of(event: &Envelope) -> String {
    let mut data = match &event.data {
        Value::Object(map) => map.clone(),
        Value::Null => serde_json::Map::new(),
        other => {
            let mut map = serde_json::Map::new();
            map.insert("value".to_owned(), other.clone());
            map
        }
    };
    data.insert("event_id".to_owned(), Value::String(event.id.clone()));
    if let Some(decision_id) = &event.decisionid {
        data.insert("decision_id".to_owned(), Value::String(decision_id.clone()));
    }
    body(&event.event_type, event.time, Value::Object(data))
}

pub(crate) fn body(event_type: &str, time: DateTime<Utc>, data: Value) -> String {
    json!({
        "type": event_type,
        "timestamp": time.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": data,
    })
    .to_string()
}

/// One event's messages to write: the endpoints subscribed to it and the body each is sent.
pub(crate) struct Fanout {
    pub(crate) account_id: AccountId,
    pub(crate) endpoint_ids: Vec<String>,
    pub(crate) event_id: String,
    pub(crate) event_type: String,
    pub(crate) event_time_ms: i64,
    pub(crate) body: String,
}

/// An account's active endpoints: each one's id and the event-type patterns it subscribes to.
type Subscriptions = HashMap<String, Vec<(String, Vec<String>)>>;

impl Webhook {
    /// Queues `event` for every active endpoint of its account subscribed to its type; answers how
    /// many messages were new. An event whose account is not an account id (a system event, or a
    /// malformed one) has no endpoints: endpoints belong to accounts.
    pub async fn accept(&self, event: &Envelope) -> Result<u64, WebhookError> {
        self.accept_all(std::slice::from_ref(event)).await
    }

    /// [`Webhook::accept`] for a batch of events, as the consumer hands them over: one read of the
    /// active endpoints of every account in the batch and one transaction for all their messages,
    /// instead of a read and a transaction per event. Most events match no endpoint (no one
    /// subscribes to every `token.issued`), and for them the read is all the work there is.
    pub async fn accept_all(&self, events: &[Envelope]) -> Result<u64, WebhookError> {
        let mut accounts: Vec<AccountId> = events
            .iter()
            .filter_map(|event| AccountId::parse(&event.account).ok())
            .collect();
        accounts.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        accounts.dedup_by(|a, b| a.as_str() == b.as_str());
        let subscriptions = self.subscriptions_of(&accounts).await?;
        let fanouts: Vec<Fanout> = events
            .iter()
            .filter_map(|event| {
                let account_id = AccountId::parse(&event.account).ok()?;
                let endpoint_ids: Vec<String> = subscriptions
                    .get(account_id.as_str())?
                    .iter()
                    .filter(|(_, patterns)| patterns::any_matches(patterns, &event.event_type))
                    .map(|(id, _)| id.clone())
                    .collect();
                (!endpoint_ids.is_empty()).then(|| Fanout {
                    account_id,
                    endpoint_ids,
                    event_id: event.id.clone(),
                    event_type: event.event_type.clone(),
                    event_time_ms: event.time.timestamp_millis(),
                    body: body_of(event),
                })
            })
            .collect();
        self.queue(&fanouts).await
    }

    /// The active endpoints of `accounts`, by account. A stored list of patterns that does not
    /// parse subscribes to nothing.
    async fn subscriptions_of(&self, accounts: &[AccountId]) -> Result<Subscriptions, WebhookError> {
        let mut subscriptions = Subscriptions::new();
        // Bounded by the consumer's batch, far below either database's limit on parameters.
        for chunk in accounts.chunks(MAX_ACCOUNTS_PER_READ) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
            // Only numbered placeholders are formatted in; the accounts are bound.
            let sql = sqlx::AssertSqlSafe(format!(
                "SELECT account_id, id, events_json FROM webhook_endpoints \
                 WHERE status = 'active' AND account_id IN ({})",
                placeholders.join(", ")
            ));
            let rows = chunk
                .iter()
                .fold(sqlx::query_as::<_, (String, String, String)>(sql), |query, account| {
                    query.bind(account.as_str())
                })
                .fetch_all(self.db.pool())
                .await?;
            for (account_id, endpoint_id, events_json) in rows {
                let patterns: Vec<String> = serde_json::from_str(&events_json).unwrap_or_default();
                subscriptions
                    .entry(account_id)
                    .or_default()
                    .push((endpoint_id, patterns));
            }
        }
        Ok(subscriptions)
    }

    /// Writes one pending message per endpoint of each fan-out, due now, in one transaction; a
    /// (endpoint, event) pair already queued is left as it is. Answers how many were new.
    pub(crate) async fn queue(&self, fanouts: &[Fanout]) -> Result<u64, WebhookError> {
        if fanouts.is_empty() {
            return Ok(0);
        }
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let mut queued = 0;
        for fanout in fanouts {
            for endpoint_id in &fanout.endpoint_ids {
                queued += sqlx::query(
                    "INSERT INTO webhook_messages (id, account_id, endpoint_id, event_id, event_type, event_time, body, \
                     status, attempts, next_attempt_at, lease_until, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, 0, $9) \
                     ON CONFLICT (endpoint_id, event_id) DO NOTHING",
                )
                .bind(MessageId::new().into_string())
                .bind(fanout.account_id.as_str())
                .bind(endpoint_id)
                .bind(&fanout.event_id)
                .bind(&fanout.event_type)
                .bind(fanout.event_time_ms)
                .bind(&fanout.body)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
        }
        tx.commit().await?;
        if queued > 0 {
            self.queued.notify_one();
        }
        Ok(queued)
    }
}
