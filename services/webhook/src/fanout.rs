//! From events to messages. The consumer calls [`Webhook::accept`] for every event; it writes one
//! message per matching active endpoint of the event's account, in one transaction, idempotently
//! (a redelivered event finds its messages already there). The body is built here, once: every
//! delivery of a message sends exactly these bytes.

use chrono::{DateTime, SecondsFormat, Utc};
use latchkey_events::Envelope;
use latchkey_ids::{AccountId, MessageId};
use latchkey_storage::{now_ms, sqlx};
use serde_json::{Value, json};

use crate::{Webhook, WebhookError, patterns};

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

impl Webhook {
    /// Queues `event` for every active endpoint of its account subscribed to its type; answers how
    /// many messages were new. An event whose account is not an account id (a system event, or a
    /// malformed one) has no endpoints: endpoints belong to accounts.
    pub async fn accept(&self, event: &Envelope) -> Result<u64, WebhookError> {
        let Ok(account_id) = AccountId::parse(&event.account) else {
            return Ok(0);
        };
        let endpoints: Vec<(String, String)> =
            sqlx::query_as("SELECT id, events_json FROM webhook_endpoints WHERE account_id = $1 AND status = 'active'")
                .bind(account_id.as_str())
                .fetch_all(self.db.pool())
                .await?;
        let subscribed: Vec<String> = endpoints
            .into_iter()
            .filter(|(_, events_json)| {
                let patterns: Vec<String> = serde_json::from_str(events_json).unwrap_or_default();
                patterns::any_matches(&patterns, &event.event_type)
            })
            .map(|(id, _)| id)
            .collect();
        if subscribed.is_empty() {
            return Ok(0);
        }
        let body = body_of(event);
        let queued = self
            .queue(
                &account_id,
                &subscribed,
                &event.id,
                &event.event_type,
                event.time.timestamp_millis(),
                &body,
            )
            .await?;
        Ok(queued)
    }

    /// Writes one pending message per endpoint, due now; a (endpoint, event) pair already queued is
    /// left as it is.
    pub(crate) async fn queue(
        &self,
        account_id: &AccountId,
        endpoint_ids: &[String],
        event_id: &str,
        event_type: &str,
        event_time_ms: i64,
        body: &str,
    ) -> Result<u64, WebhookError> {
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let mut queued = 0;
        for endpoint_id in endpoint_ids {
            queued += sqlx::query(
                "INSERT INTO webhook_messages (id, account_id, endpoint_id, event_id, event_type, event_time, body, \
                 status, attempts, next_attempt_at, lease_until, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, 0, $9) \
                 ON CONFLICT (endpoint_id, event_id) DO NOTHING",
            )
            .bind(MessageId::new().into_string())
            .bind(account_id.as_str())
            .bind(endpoint_id)
            .bind(event_id)
            .bind(event_type)
            .bind(event_time_ms)
            .bind(body)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        if queued > 0 {
            self.queued.notify_one();
        }
        Ok(queued)
    }
}
