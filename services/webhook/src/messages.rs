//! What the API shows of deliveries, and what it may ask of them: list an endpoint's attempts,
//! send a message again, replay a time range, send a test message. A message sent again keeps its
//! id (the webhook-id) and its body; only the timestamp and signature of each attempt are new.

use chrono::Utc;
use latchkey_storage::{now_ms, sqlx};
use serde_json::json;

use crate::{TEST_EVENT_TYPE, Webhook, WebhookError, fanout};

/// The most attempts one page lists, and the default.
const MAX_PAGE: u32 = 500;
const DEFAULT_PAGE: u32 = 50;

/// One delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub id: String,
    pub message_id: String,
    pub event_type: String,
    /// The message's state now: pending, delivered or failed.
    pub message_status: String,
    pub attempted_at_ms: i64,
    /// 0 when no HTTP status was answered.
    pub status_code: u16,
    /// succeeded or failed.
    pub outcome: String,
    pub error: String,
    pub latency_ms: i64,
    pub response_snippet: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptPage {
    pub attempts: Vec<Attempt>,
    /// The `before` of the next page, when there may be one.
    pub next_before: Option<String>,
}

/// A message: one event for one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub endpoint_id: String,
    pub event_type: String,
    pub status: String,
    pub attempts: i64,
    pub created_at_ms: i64,
    pub next_attempt_at_ms: i64,
}

type AttemptRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
    String,
    String,
    i64,
    String,
);
type MessageRow = (String, String, String, String, i64, i64, i64);

fn message_from_row(row: MessageRow) -> Message {
    let (id, endpoint_id, event_type, status, attempts, created_at_ms, next_attempt_at_ms) = row;
    Message {
        id,
        endpoint_id,
        event_type,
        status,
        attempts,
        created_at_ms,
        next_attempt_at_ms,
    }
}

impl Webhook {
    /// The endpoint's status, if it is the account's.
    async fn endpoint_status(&self, account_id: &str, endpoint_id: &str) -> Result<String, WebhookError> {
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM webhook_endpoints WHERE account_id = $1 AND id = $2")
                .bind(account_id)
                .bind(endpoint_id)
                .fetch_optional(self.db.pool())
                .await?;
        status.ok_or(WebhookError::EndpointNotFound)
    }

    /// Sending needs an active endpoint.
    async fn active_endpoint(&self, account_id: &str, endpoint_id: &str) -> Result<(), WebhookError> {
        match self.endpoint_status(account_id, endpoint_id).await?.as_str() {
            "active" => Ok(()),
            _ => Err(WebhookError::Unprocessable(
                "the endpoint is disabled: enable it (POST /v1/webhooks/{id}/enable) to receive deliveries".to_owned(),
            )),
        }
    }

    /// The endpoint's attempts, newest first, `limit` at a time (0 for 50), older than the attempt
    /// `before` (the `next_before` of the previous page).
    pub async fn list_attempts(
        &self,
        account_id: &str,
        endpoint_id: &str,
        limit: u32,
        before: Option<&str>,
    ) -> Result<AttemptPage, WebhookError> {
        if limit > MAX_PAGE {
            return Err(WebhookError::field("limit", format!("between 1 and {MAX_PAGE}")));
        }
        let limit = if limit == 0 { DEFAULT_PAGE } else { limit };
        self.endpoint_status(account_id, endpoint_id).await?;
        let after = match before {
            Some(before) => Some(self.attempt_position(account_id, endpoint_id, before).await?),
            None => None,
        };
        // Ids are random, so time leads the order and the id only breaks ties: a page goes on from
        // the previous page's last (attempted_at, id), whatever the ids look like. The cursor
        // condition only when there is a cursor: no sentinel, whose order against real ids would
        // depend on the database's collation.
        let cursor = if after.is_some() {
            "AND (a.attempted_at, a.id) < ($4, $5)"
        } else {
            ""
        };
        let query = sqlx::query_as::<_, AttemptRow>(sqlx::AssertSqlSafe(format!(
            "SELECT a.id, a.message_id, m.event_type, m.status, a.attempted_at, a.status_code, a.outcome, a.error, \
             a.latency_ms, a.response_snippet FROM webhook_attempts a \
             LEFT JOIN webhook_messages m ON m.id = a.message_id \
             WHERE a.account_id = $1 AND a.endpoint_id = $2 {cursor} \
             ORDER BY a.attempted_at DESC, a.id DESC LIMIT $3"
        )))
        .bind(account_id)
        .bind(endpoint_id)
        .bind(i64::from(limit) + 1);
        let rows: Vec<AttemptRow> = match (after, before) {
            (Some(attempted_at), Some(before)) => query.bind(attempted_at).bind(before),
            _ => query,
        }
        .fetch_all(self.db.pool())
        .await?;
        let more = rows.len() > limit as usize;
        let attempts: Vec<Attempt> = rows
            .into_iter()
            .take(limit as usize)
            .map(
                |(
                    id,
                    message_id,
                    event_type,
                    message_status,
                    attempted_at_ms,
                    status_code,
                    outcome,
                    error,
                    latency_ms,
                    snippet,
                )| {
                    Attempt {
                        id,
                        message_id,
                        event_type: event_type.unwrap_or_default(),
                        message_status: message_status.unwrap_or_default(),
                        attempted_at_ms,
                        status_code: u16::try_from(status_code).unwrap_or(0),
                        outcome,
                        error,
                        latency_ms,
                        response_snippet: snippet,
                    }
                },
            )
            .collect();
        let next_before = more
            .then(|| attempts.last().map(|attempt| attempt.id.clone()))
            .flatten();
        Ok(AttemptPage { attempts, next_before })
    }

    /// When the endpoint's attempt `attempt_id` was made: where a page that starts after it starts.
    /// A cursor that names no attempt of the endpoint is refused rather than read as a position.
    async fn attempt_position(
        &self,
        account_id: &str,
        endpoint_id: &str,
        attempt_id: &str,
    ) -> Result<i64, WebhookError> {
        let attempted_at: Option<i64> = sqlx::query_scalar(
            "SELECT attempted_at FROM webhook_attempts WHERE account_id = $1 AND endpoint_id = $2 AND id = $3",
        )
        .bind(account_id)
        .bind(endpoint_id)
        .bind(attempt_id)
        .fetch_optional(self.db.pool())
        .await?;
        attempted_at.ok_or_else(|| {
            WebhookError::field(
                "before",
                "not a delivery of this endpoint: pass the `next_cursor` of the previous page",
            )
        })
    }

    async fn message(&self, account_id: &str, endpoint_id: &str, message_id: &str) -> Result<Message, WebhookError> {
        let row: Option<MessageRow> = sqlx::query_as(
            "SELECT id, endpoint_id, event_type, status, attempts, created_at, next_attempt_at FROM webhook_messages \
             WHERE account_id = $1 AND endpoint_id = $2 AND id = $3",
        )
        .bind(account_id)
        .bind(endpoint_id)
        .bind(message_id)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(message_from_row).ok_or(WebhookError::MessageNotFound)
    }

    /// Queues the message again, due now, with the same id and body. A message still pending is
    /// only brought forward.
    pub async fn retry_message(
        &self,
        account_id: &str,
        endpoint_id: &str,
        message_id: &str,
    ) -> Result<Message, WebhookError> {
        self.active_endpoint(account_id, endpoint_id).await?;
        self.message(account_id, endpoint_id, message_id).await?;
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "UPDATE webhook_messages SET status = 'pending', next_attempt_at = $1 \
             WHERE account_id = $2 AND endpoint_id = $3 AND id = $4",
        )
        .bind(now)
        .bind(account_id)
        .bind(endpoint_id)
        .bind(message_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.queued.notify_one();
        self.message(account_id, endpoint_id, message_id).await
    }

    /// Queues again every message to the endpoint whose event happened in `[since_ms, until_ms)`;
    /// answers how many.
    pub async fn replay(
        &self,
        account_id: &str,
        endpoint_id: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<u64, WebhookError> {
        if since_ms <= 0 {
            return Err(WebhookError::field("since", "required"));
        }
        if until_ms <= since_ms {
            return Err(WebhookError::field("until", "must be after since"));
        }
        self.active_endpoint(account_id, endpoint_id).await?;
        let mut tx = self.db.begin_write().await?;
        let queued = sqlx::query(
            "UPDATE webhook_messages SET status = 'pending', next_attempt_at = $1 \
             WHERE account_id = $2 AND endpoint_id = $3 AND event_time >= $4 AND event_time < $5",
        )
        .bind(now_ms())
        .bind(account_id)
        .bind(endpoint_id)
        .bind(since_ms)
        .bind(until_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        self.queued.notify_one();
        Ok(queued)
    }

    /// Queues a `webhook.test` message to the endpoint, whatever event types it subscribes to.
    pub async fn send_test(&self, account_id: &str, endpoint_id: &str) -> Result<Message, WebhookError> {
        self.active_endpoint(account_id, endpoint_id).await?;
        let event_id = uuid::Uuid::now_v7().to_string();
        let now = Utc::now();
        let body = fanout::body(
            TEST_EVENT_TYPE,
            now,
            json!({ "endpoint_id": endpoint_id, "event_id": event_id, "message": "A test event from Latchkey." }),
        );
        let endpoints = [endpoint_id.to_owned()];
        self.queue(
            account_id,
            &endpoints,
            &event_id,
            TEST_EVENT_TYPE,
            now.timestamp_millis(),
            &body,
        )
        .await?;
        let id: String = sqlx::query_scalar("SELECT id FROM webhook_messages WHERE endpoint_id = $1 AND event_id = $2")
            .bind(endpoint_id)
            .bind(&event_id)
            .fetch_one(self.db.pool())
            .await?;
        self.message(account_id, endpoint_id, &id).await
    }

    /// How many messages wait for delivery (due or not), across accounts: the service's backlog.
    pub async fn backlog(&self) -> Result<i64, WebhookError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_messages WHERE status = 'pending'")
                .fetch_one(self.db.pool())
                .await?,
        )
    }

    /// The message with this id, for tests and tools that follow one message.
    pub async fn find_message(&self, account_id: &str, message_id: &str) -> Result<Message, WebhookError> {
        let row: Option<MessageRow> = sqlx::query_as(
            "SELECT id, endpoint_id, event_type, status, attempts, created_at, next_attempt_at FROM webhook_messages \
             WHERE account_id = $1 AND id = $2",
        )
        .bind(account_id)
        .bind(message_id)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(message_from_row).ok_or(WebhookError::MessageNotFound)
    }
}
