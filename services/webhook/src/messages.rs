//! What the API shows of deliveries, and what it may ask of them: list an endpoint's attempts,
//! send a message again, replay a time range, send a test message. A message sent again keeps its
//! id (the webhook-id) and its body; only the timestamp and signature of each attempt are new.

use chrono::Utc;
use latchkey_ids::{AccountId, AttemptId, EndpointId, MessageId};
use latchkey_storage::{now_ms, sqlx};
use serde_json::json;

use latchkey_server::stored_id;

use crate::{TEST_EVENT_TYPE, Webhook, WebhookError, fanout};

/// The most attempts one page lists, and the default.
const MAX_PAGE: u32 = 500;
const DEFAULT_PAGE: u32 = 50;

/// One delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub id: AttemptId,
    pub message_id: MessageId,
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
    pub next_before: Option<AttemptId>,
}

/// A message: one event for one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub id: MessageId,
    pub endpoint_id: EndpointId,
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

fn message_from_row(row: MessageRow) -> Result<Message, WebhookError> {
    let (id, endpoint_id, event_type, status, attempts, created_at_ms, next_attempt_at_ms) = row;
    Ok(Message {
        id: stored_id(id)?,
        endpoint_id: stored_id(endpoint_id)?,
        event_type,
        status,
        attempts,
        created_at_ms,
        next_attempt_at_ms,
    })
}

fn attempt_from_row(row: AttemptRow) -> Result<Attempt, WebhookError> {
    let (id, message_id, event_type, message_status, attempted_at_ms, status_code, outcome, error, latency_ms, snippet) =
        row;
    Ok(Attempt {
        id: stored_id(id)?,
        message_id: stored_id(message_id)?,
        event_type: event_type.unwrap_or_default(),
        message_status: message_status.unwrap_or_default(),
        attempted_at_ms,
        status_code: u16::try_from(status_code).unwrap_or(0),
        outcome,
        error,
        latency_ms,
        response_snippet: snippet,
    })
}

impl Webhook {
    /// The endpoint's status, if it is the account's.
    async fn endpoint_status(&self, account_id: &AccountId, endpoint_id: &EndpointId) -> Result<String, WebhookError> {
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM webhook_endpoints WHERE account_id = $1 AND id = $2")
                .bind(account_id.as_str())
                .bind(endpoint_id.as_str())
                .fetch_optional(self.db.pool())
                .await?;
        status.ok_or(WebhookError::EndpointNotFound)
    }

    /// Sending needs an active endpoint.
    async fn active_endpoint(&self, account_id: &AccountId, endpoint_id: &EndpointId) -> Result<(), WebhookError> {
        match self.endpoint_status(account_id, endpoint_id).await?.as_str() {
            "active" => Ok(()),
            _ => Err(WebhookError::Unprocessable(
                "the endpoint is disabled: enable it (POST /v1/webhooks/{id}/enable) to receive deliveries".to_owned(),
            )),
        }
    }

    /// The endpoint's attempts, newest first, `limit` at a time (0 for 50), older than the attempt
    /// `before` (the `next_before` of the previous page, as the client sent it back).
    pub async fn list_attempts(
        &self,
        account_id: &AccountId,
        endpoint_id: &EndpointId,
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
        .bind(account_id.as_str())
        .bind(endpoint_id.as_str())
        .bind(i64::from(limit) + 1);
        let rows: Vec<AttemptRow> = match after {
            Some((attempted_at, before)) => query.bind(attempted_at).bind(before.into_string()),
            None => query,
        }
        .fetch_all(self.db.pool())
        .await?;
        let more = rows.len() > limit as usize;
        let attempts = rows
            .into_iter()
            .take(limit as usize)
            .map(attempt_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let next_before = more
            .then(|| attempts.last().map(|attempt| attempt.id.clone()))
            .flatten();
        Ok(AttemptPage { attempts, next_before })
    }

    /// Where a page that starts after the cursor `before` starts: the (attempted_at, id) of the
    /// endpoint's attempt it names. A cursor that names none (another endpoint's attempt, or no
    /// attempt id at all) is refused rather than read as a position.
    async fn attempt_position(
        &self,
        account_id: &AccountId,
        endpoint_id: &EndpointId,
        before: &str,
    ) -> Result<(i64, AttemptId), WebhookError> {
        let not_a_cursor = || {
            WebhookError::field(
                "before",
                "not a delivery of this endpoint: pass the `next_cursor` of the previous page",
            )
        };
        let attempt_id = AttemptId::parse(before).map_err(|_| not_a_cursor())?;
        let attempted_at: Option<i64> = sqlx::query_scalar(
            "SELECT attempted_at FROM webhook_attempts WHERE account_id = $1 AND endpoint_id = $2 AND id = $3",
        )
        .bind(account_id.as_str())
        .bind(endpoint_id.as_str())
        .bind(attempt_id.as_str())
        .fetch_optional(self.db.pool())
        .await?;
        let attempted_at = attempted_at.ok_or_else(not_a_cursor)?;
        Ok((attempted_at, attempt_id))
    }

    async fn message(
        &self,
        account_id: &AccountId,
        endpoint_id: &EndpointId,
        message_id: &MessageId,
    ) -> Result<Message, WebhookError> {
        let row: Option<MessageRow> = sqlx::query_as(
            "SELECT id, endpoint_id, event_type, status, attempts, created_at, next_attempt_at FROM webhook_messages \
             WHERE account_id = $1 AND endpoint_id = $2 AND id = $3",
        )
        .bind(account_id.as_str())
        .bind(endpoint_id.as_str())
        .bind(message_id.as_str())
        .fetch_optional(self.db.pool())
        .await?;
        row.map(message_from_row).ok_or(WebhookError::MessageNotFound)?
    }

    /// Queues the message again, due now, with the same id and body. A message still pending is
    /// only brought forward. A message in flight loses its lease, so that the attempt under way,
    /// whatever its answer, cannot record over the request to send it again.
    pub async fn retry_message(
        &self,
        account_id: &AccountId,
        endpoint_id: &EndpointId,
        message_id: &MessageId,
    ) -> Result<Message, WebhookError> {
        self.active_endpoint(account_id, endpoint_id).await?;
        self.message(account_id, endpoint_id, message_id).await?;
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "UPDATE webhook_messages SET status = 'pending', next_attempt_at = $1, lease_until = 0 \
             WHERE account_id = $2 AND endpoint_id = $3 AND id = $4",
        )
        .bind(now)
        .bind(account_id.as_str())
        .bind(endpoint_id.as_str())
        .bind(message_id.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.queued.notify_one();
        self.message(account_id, endpoint_id, message_id).await
    }

    /// Queues again every message to the endpoint whose event happened in `[since_ms, until_ms)`;
    /// answers how many. Messages in flight lose their leases, as in [`Self::retry_message`].
    pub async fn replay(
        &self,
        account_id: &AccountId,
        endpoint_id: &EndpointId,
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
            "UPDATE webhook_messages SET status = 'pending', next_attempt_at = $1, lease_until = 0 \
             WHERE account_id = $2 AND endpoint_id = $3 AND event_time >= $4 AND event_time < $5",
        )
        .bind(now_ms())
        .bind(account_id.as_str())
        .bind(endpoint_id.as_str())
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
    pub async fn send_test(&self, account_id: &AccountId, endpoint_id: &EndpointId) -> Result<Message, WebhookError> {
        self.active_endpoint(account_id, endpoint_id).await?;
        let event_id = uuid::Uuid::now_v7().to_string();
        let now = Utc::now();
        let body = fanout::body(
            TEST_EVENT_TYPE,
            now,
            json!({ "endpoint_id": endpoint_id.as_str(), "event_id": event_id, "message": "A test event from Latchkey." }),
        );
        self.queue(&[fanout::Fanout {
            account_id: account_id.clone(),
            endpoint_ids: vec![endpoint_id.to_string()],
            event_id: event_id.clone(),
            event_type: TEST_EVENT_TYPE.to_owned(),
            event_time_ms: now.timestamp_millis(),
            body,
        }])
        .await?;
        let id: String = sqlx::query_scalar("SELECT id FROM webhook_messages WHERE endpoint_id = $1 AND event_id = $2")
            .bind(endpoint_id.as_str())
            .bind(&event_id)
            .fetch_one(self.db.pool())
            .await?;
        self.message(account_id, endpoint_id, &stored_id(id)?).await
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
    pub async fn find_message(&self, account_id: &AccountId, message_id: &MessageId) -> Result<Message, WebhookError> {
        let row: Option<MessageRow> = sqlx::query_as(
            "SELECT id, endpoint_id, event_type, status, attempts, created_at, next_attempt_at FROM webhook_messages \
             WHERE account_id = $1 AND id = $2",
        )
        .bind(account_id.as_str())
        .bind(message_id.as_str())
        .fetch_optional(self.db.pool())
        .await?;
        row.map(message_from_row).ok_or(WebhookError::MessageNotFound)?
    }
}
