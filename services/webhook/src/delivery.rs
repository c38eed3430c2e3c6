//! The delivery worker: claims due messages under a lease, sends each one signed, records the
//! attempt and decides what comes next — delivered, retried later (timeouts, connection errors,
//! 429 and 5xx, honouring `Retry-After`), failed (any other answer, a refused address, too many
//! attempts), or the endpoint disabled (410 Gone, or failing for longer than configured).
//!
//! A claim is a lease (`lease_until`), not a lock: a worker that dies mid-delivery simply lets it
//! lapse and the message is claimed again, with the same id and body. Several workers (several
//! instances of the service) share the table: PostgreSQL hands each its own rows (`SKIP LOCKED`),
//! SQLite's single writer serialises the claims.

use std::{collections::HashMap, time::Duration};

use chrono::DateTime;
use futures::StreamExt;
use latchkey_events::{
    Envelope,
    catalogue::{EndpointDisabled, EndpointFailing, EndpointRecovered},
};
use latchkey_ids::AttemptId;
use latchkey_storage::{Backend, now_ms, sqlx};
use rand::RngExt;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use sqlx::{Any, Transaction};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use latchkey_egress as guard;

use crate::{EVENT_SOURCE, Webhook, WebhookConfig, WebhookError, signing};

/// The delivery client: the egress guard's, with the configured timeout.
pub(crate) fn client(config: &WebhookConfig) -> Result<reqwest::Client, reqwest::Error> {
    guard::client_builder(config.address_policy())
        .timeout(config.request_timeout())
        .pool_max_idle_per_host(64)
        .user_agent(concat!("Latchkey-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The most of a response body an attempt keeps.
pub(crate) const SNIPPET_BYTES: usize = 1024;
/// Outcomes recorded per transaction.
const RECORD_CHUNK: usize = 256;
/// The longest `Retry-After` honoured: a day.
const MAX_RETRY_AFTER_MS: u64 = 24 * 60 * 60 * 1000;
/// The actor of the events the worker emits on its own.
const SYSTEM: &str = "system";

/// A message this worker holds the lease of.
struct Claimed {
    id: String,
    account_id: String,
    endpoint_id: String,
    body: String,
    attempts: i64,
    lease_until: i64,
}

/// Where and how a message is sent.
#[derive(Clone)]
struct Target {
    url: String,
    /// The current secret first, then the previous one while it still signs.
    secrets: Vec<String>,
    active: bool,
}

enum Verdict {
    Delivered,
    Retry {
        retry_after: Option<Duration>,
    },
    Failed,
    /// 410: the receiver asks never to be called again.
    Gone,
    /// The endpoint was disabled or removed before the message went out: nothing was sent.
    Skipped,
}

struct Outcome {
    message: Claimed,
    attempted_at: i64,
    status_code: u16,
    verdict: Verdict,
    error: String,
    latency_ms: i64,
    snippet: String,
}

/// What a round of outcomes says about one endpoint.
#[derive(Default)]
struct Health {
    succeeded: bool,
    failed: bool,
    gone: bool,
}

pub(crate) async fn run(service: Webhook, shutdown: CancellationToken) {
    let mut failures = 0u32;
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        let claimed = match service.claim().await {
            Ok(claimed) => {
                failures = 0;
                claimed
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                tracing::warn!(error = %error, "could not claim webhook messages");
                let delay = service.config.poll_interval() * failures.min(20);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(delay) => continue,
                }
            }
        };
        if claimed.is_empty() {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = service.queued.notified() => {}
                _ = tokio::time::sleep(service.config.poll_interval()) => {}
            }
            continue;
        }
        let targets = match service.targets(&claimed).await {
            Ok(targets) => targets,
            Err(error) => {
                // The leases lapse and the messages come back.
                tracing::warn!(error = %error, "could not read webhook endpoints");
                continue;
            }
        };
        let concurrency = service.config.concurrency.max(1);
        // Messages whose secrets cannot be opened now sit this round out; their leases lapse.
        let ready = claimed
            .into_iter()
            .filter(|message| !matches!(targets.get(&message.endpoint_id), Some(None)));
        let mut outcomes = futures::stream::iter(ready)
            .map(|message| {
                let target = targets.get(&message.endpoint_id).cloned().flatten();
                service.attempt(message, target)
            })
            .buffer_unordered(concurrency)
            .ready_chunks(RECORD_CHUNK);
        loop {
            let chunk = tokio::select! {
                _ = shutdown.cancelled() => return,
                chunk = outcomes.next() => chunk,
            };
            let Some(chunk) = chunk else { break };
            if let Err(error) = service.record(chunk).await {
                // Unrecorded: the leases lapse and the messages are sent again (at least once).
                tracing::warn!(error = %error, "could not record webhook deliveries");
            }
        }
    }
}

impl Webhook {
    /// Leases up to `batch_size` due messages to this worker.
    async fn claim(&self) -> Result<Vec<Claimed>, WebhookError> {
        let now = now_ms();
        let lease_until = now + i64::try_from(self.config.lease_ms).unwrap_or(60_000);
        let skip_locked = match self.db.backend() {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let mut tx = self.db.begin_write().await?;
        let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE webhook_messages SET lease_until = $1 WHERE id IN (SELECT id FROM webhook_messages \
             WHERE status = 'pending' AND next_attempt_at <= $2 AND lease_until <= $2 \
             ORDER BY next_attempt_at LIMIT $3 {skip_locked}) \
             RETURNING id, account_id, endpoint_id, body, attempts"
        )))
        .bind(lease_until)
        .bind(now)
        .bind(i64::from(self.config.batch_size.max(1)))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|(id, account_id, endpoint_id, body, attempts)| Claimed {
                id,
                account_id,
                endpoint_id,
                body,
                attempts,
                lease_until,
            })
            .collect())
    }

    /// The endpoints the claimed messages go to, read once per round: `None` for an endpoint whose
    /// secrets cannot be opened now (its messages wait for their leases to lapse and come back); no
    /// entry for an endpoint that no longer exists.
    async fn targets(&self, claimed: &[Claimed]) -> Result<HashMap<String, Option<Target>>, WebhookError> {
        let now = now_ms();
        let mut targets = HashMap::new();
        for message in claimed {
            if targets.contains_key(&message.endpoint_id) {
                continue;
            }
            let row: Option<(String, String, Option<String>, i64, String, i64)> = sqlx::query_as(
                "SELECT url, secret, previous_secret, previous_expires_at, status, secret_version \
                 FROM webhook_endpoints WHERE id = $1",
            )
            .bind(&message.endpoint_id)
            .fetch_optional(self.db.pool())
            .await?;
            let Some((url, secret, previous, previous_expires_at, status, version)) = row else {
                continue;
            };
            let (current, previous) = if version > 0 {
                let version = u64::try_from(version).unwrap_or_default();
                match self
                    .secrets
                    .open(&message.account_id, &message.endpoint_id, version)
                    .await
                {
                    Ok(doc) => (doc.current, doc.previous),
                    Err(error) => {
                        tracing::warn!(endpoint_id = %message.endpoint_id, error = %error, "cannot open the endpoint's signing secrets");
                        targets.insert(message.endpoint_id.clone(), None);
                        continue;
                    }
                }
            } else {
                (secret, previous)
            };
            let mut secrets = vec![current];
            secrets.extend(previous.filter(|_| previous_expires_at > now));
            targets.insert(
                message.endpoint_id.clone(),
                Some(Target {
                    url,
                    secrets,
                    active: status == "active",
                }),
            );
        }
        Ok(targets)
    }

    /// Sends one message once.
    async fn attempt(&self, message: Claimed, target: Option<Target>) -> Outcome {
        let started = Instant::now();
        let attempted_at = now_ms();
        let outcome = |message, status_code, verdict, error: String, snippet| Outcome {
            message,
            attempted_at,
            status_code,
            verdict,
            error,
            latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            snippet,
        };
        let Some(target) = target.filter(|target| target.active) else {
            return outcome(message, 0, Verdict::Skipped, String::new(), String::new());
        };
        let url = match reqwest::Url::parse(&target.url) {
            Ok(url) => url,
            Err(error) => {
                return outcome(
                    message,
                    0,
                    Verdict::Failed,
                    format!("invalid_url: {error}"),
                    String::new(),
                );
            }
        };
        if let Err(refusal) = guard::check_literal_host(self.config.address_policy(), &url) {
            let error = format!("refused_address: {}", refusal.recorded());
            return outcome(message, 0, Verdict::Failed, error, String::new());
        }
        let timestamp = chrono::Utc::now().timestamp();
        let signature = signing::signature_header(
            target.secrets.iter().map(String::as_str),
            &message.id,
            timestamp,
            message.body.as_bytes(),
        );
        let sent = self
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", &message.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(message.body.clone())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => {
                if let Some(refusal) = guard::refusal_of(&error) {
                    let error = format!("refused_address: {}", refusal.recorded());
                    return outcome(message, 0, Verdict::Failed, error, String::new());
                }
                let (verdict, kind) = if error.is_timeout() {
                    (Verdict::Retry { retry_after: None }, "timeout")
                } else {
                    (Verdict::Retry { retry_after: None }, "connection")
                };
                return outcome(
                    message,
                    0,
                    verdict,
                    format!("{kind}: {}", describe(&error)),
                    String::new(),
                );
            }
        };
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let snippet = match read_snippet(response).await {
            Ok(snippet) => snippet,
            // The status is in: a body cut short does not change what it says.
            Err(error) if error.is_timeout() => String::new(),
            Err(_) => String::new(),
        };
        let verdict = match status.as_u16() {
            200..=299 => Verdict::Delivered,
            410 => Verdict::Gone,
            408 | 429 | 500..=599 => Verdict::Retry { retry_after },
            _ => Verdict::Failed,
        };
        let error = if status.is_success() {
            String::new()
        } else {
            format!("http_status: {}", status.as_u16())
        };
        outcome(message, status.as_u16(), verdict, error, snippet)
    }

    /// Writes a chunk of outcomes, and what they mean for their endpoints, in one transaction.
    async fn record(&self, outcomes: Vec<Outcome>) -> Result<(), WebhookError> {
        let now = now_ms();
        let max_attempts = i64::from(self.config.max_attempts.max(1));
        let mut health: HashMap<String, Health> = HashMap::new();
        let mut tx = self.db.begin_write().await?;
        for outcome in &outcomes {
            let message = &outcome.message;
            let attempts = if matches!(outcome.verdict, Verdict::Skipped) {
                message.attempts
            } else {
                message.attempts + 1
            };
            let (status, next_attempt_at) = match &outcome.verdict {
                Verdict::Delivered => ("delivered", 0),
                Verdict::Retry { retry_after } if attempts < max_attempts => {
                    ("pending", now + self.retry_delay_ms(attempts, *retry_after))
                }
                Verdict::Retry { .. } | Verdict::Failed | Verdict::Gone | Verdict::Skipped => ("failed", 0),
            };
            metrics::counter!("latchkey_webhook_deliveries_total", "outcome" => outcome_label(&outcome.verdict))
                .increment(1);
            if !matches!(outcome.verdict, Verdict::Skipped) {
                sqlx::query(
                    "INSERT INTO webhook_attempts (id, account_id, endpoint_id, message_id, attempted_at, status_code, \
                     outcome, error, latency_ms, response_snippet) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(AttemptId::new().into_string())
                .bind(&message.account_id)
                .bind(&message.endpoint_id)
                .bind(&message.id)
                .bind(outcome.attempted_at)
                .bind(i64::from(outcome.status_code))
                .bind(if matches!(outcome.verdict, Verdict::Delivered) {
                    "succeeded"
                } else {
                    "failed"
                })
                .bind(&outcome.error)
                .bind(outcome.latency_ms)
                .bind(&outcome.snippet)
                .execute(&mut *tx)
                .await?;
                let endpoint = health.entry(message.endpoint_id.clone()).or_default();
                match outcome.verdict {
                    Verdict::Delivered => endpoint.succeeded = true,
                    Verdict::Gone => endpoint.gone = true,
                    _ => endpoint.failed = true,
                }
            }
            // Only while this worker still holds the lease: a lapsed lease is another worker's now.
            sqlx::query(
                "UPDATE webhook_messages SET status = $1, attempts = $2, next_attempt_at = $3, lease_until = 0 \
                 WHERE id = $4 AND lease_until = $5",
            )
            .bind(status)
            .bind(attempts)
            .bind(next_attempt_at)
            .bind(&message.id)
            .bind(message.lease_until)
            .execute(&mut *tx)
            .await?;
        }
        for (endpoint_id, health) in health {
            self.update_health(&mut tx, &endpoint_id, health, now).await?;
        }
        self.outbox.commit(tx).await?;
        Ok(())
    }

    /// Exponential backoff with jitter (between ¾ and 1¼ of the doubled delay), at most
    /// `retry_max_ms`; never sooner than the receiver's `Retry-After`, which is honoured even above
    /// `retry_max_ms` (the receiver knows when it can take more), up to a day.
    fn retry_delay_ms(&self, attempts: i64, retry_after: Option<Duration>) -> i64 {
        let initial = self.config.retry_initial_ms.max(1);
        let max = self.config.retry_max_ms.max(initial);
        let doublings = u32::try_from((attempts - 1).clamp(0, 40)).unwrap_or(40);
        let exponential = initial.saturating_mul(2u64.saturating_pow(doublings)).min(max);
        let jittered = ((exponential as f64 * rand::rng().random_range(0.75..1.25)) as u64).min(max);
        let asked = retry_after.map_or(0, |delay| u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
        i64::try_from(jittered.max(asked.min(MAX_RETRY_AFTER_MS))).unwrap_or(i64::MAX)
    }

    /// Success heals a failing endpoint (announcing it if its failure had been announced); failure
    /// starts or extends its failing span, announced after `failing_warn_after_secs` and disabling it
    /// after `disable_after_secs`; 410 disables it at once.
    async fn update_health(
        &self,
        tx: &mut Transaction<'static, Any>,
        endpoint_id: &str,
        health: Health,
        now: i64,
    ) -> Result<(), WebhookError> {
        let row: Option<(String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT account_id, url, status, failing_since, failing_announced FROM webhook_endpoints WHERE id = $1",
        )
        .bind(endpoint_id)
        .fetch_optional(&mut **tx)
        .await?;
        let Some((account_id, url, status, failing_since, announced)) = row else {
            return Ok(());
        };
        if status != "active" {
            return Ok(());
        }
        if health.gone {
            return self.disable(tx, &account_id, endpoint_id, &url, "gone", now).await;
        }
        if health.succeeded {
            if failing_since != 0 {
                sqlx::query("UPDATE webhook_endpoints SET failing_since = 0, failing_announced = 0 WHERE id = $1")
                    .bind(endpoint_id)
                    .execute(&mut **tx)
                    .await?;
                if announced != 0 {
                    let event = EndpointRecovered {
                        endpoint_id: endpoint_id.to_owned(),
                        url,
                        failing_since_ms: failing_since,
                    };
                    self.outbox
                        .enqueue(tx, &Envelope::new(EVENT_SOURCE, &account_id, Some(SYSTEM), &event))
                        .await?;
                }
            }
            return Ok(());
        }
        if !health.failed {
            return Ok(());
        }
        let failing_since = if failing_since == 0 {
            sqlx::query("UPDATE webhook_endpoints SET failing_since = $1 WHERE id = $2")
                .bind(now)
                .bind(endpoint_id)
                .execute(&mut **tx)
                .await?;
            now
        } else {
            failing_since
        };
        let secs = |value: u64| i64::try_from(value.saturating_mul(1000)).unwrap_or(i64::MAX);
        let disable_after = secs(self.config.disable_after_secs);
        let failing_for = now - failing_since;
        if failing_for >= disable_after {
            return self.disable(tx, &account_id, endpoint_id, &url, "failing", now).await;
        }
        if failing_for >= secs(self.config.failing_warn_after_secs) && announced == 0 {
            sqlx::query("UPDATE webhook_endpoints SET failing_announced = 1 WHERE id = $1")
                .bind(endpoint_id)
                .execute(&mut **tx)
                .await?;
            let event = EndpointFailing {
                endpoint_id: endpoint_id.to_owned(),
                url,
                failing_since_ms: failing_since,
                disable_at_ms: failing_since.saturating_add(disable_after),
            };
            self.outbox
                .enqueue(tx, &Envelope::new(EVENT_SOURCE, &account_id, Some(SYSTEM), &event))
                .await?;
        }
        Ok(())
    }

    /// Disables the endpoint: its waiting messages fail, and `endpoint.disabled` says why.
    async fn disable(
        &self,
        tx: &mut Transaction<'static, Any>,
        account_id: &str,
        endpoint_id: &str,
        url: &str,
        reason: &str,
        now: i64,
    ) -> Result<(), WebhookError> {
        sqlx::query(
            "UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(reason)
        .bind(now)
        .bind(endpoint_id)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "UPDATE webhook_messages SET status = 'failed', next_attempt_at = 0 WHERE endpoint_id = $1 AND status = 'pending'",
        )
        .bind(endpoint_id)
        .execute(&mut **tx)
        .await?;
        let event = EndpointDisabled {
            endpoint_id: endpoint_id.to_owned(),
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        self.outbox
            .enqueue(tx, &Envelope::new(EVENT_SOURCE, account_id, Some(SYSTEM), &event))
            .await?;
        tracing::info!(endpoint_id, reason, "webhook endpoint disabled");
        Ok(())
    }
}

fn outcome_label(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Delivered => "delivered",
        Verdict::Retry { .. } => "retry",
        Verdict::Failed => "failed",
        Verdict::Gone => "gone",
        Verdict::Skipped => "skipped",
    }
}

/// A client error and its causes, without the URL (which is the account's and may carry tokens).
fn describe(error: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    while let Some(current) = source {
        parts.push(current.to_string());
        source = current.source();
    }
    if parts.is_empty() {
        "request failed".to_owned()
    } else {
        parts.join(": ")
    }
}

/// `Retry-After` as delay-seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    let millis = at.timestamp_millis() - now_ms();
    Some(Duration::from_millis(u64::try_from(millis).unwrap_or(0)))
}

/// The first KiB of the body, as text (cut on a character boundary).
async fn read_snippet(mut response: reqwest::Response) -> Result<String, reqwest::Error> {
    let mut bytes = Vec::new();
    while bytes.len() < SNIPPET_BYTES {
        match response.chunk().await? {
            Some(chunk) => bytes.extend_from_slice(&chunk),
            None => break,
        }
    }
    bytes.truncate(SNIPPET_BYTES);
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    while text.len() > SNIPPET_BYTES {
        text.pop();
    }
    Ok(text)
}

#[cfg(test)]
mod tests;
