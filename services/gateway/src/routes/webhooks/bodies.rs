//! The request and response bodies of `/v1/webhooks`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::routes::constraints::EventSelector;

/// A new webhook endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookBody {
    /// Where deliveries are POSTed: an absolute http(s) URL, without credentials, up to 2048
    /// characters. Loopback, private, link-local and metadata addresses are refused unless the
    /// deployment allows them (`webhook.allow_loopback`).
    #[schema(
        format = "uri",
        max_length = 2048,
        pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#@]+([/?#][^\s]*)?$",
        example = "https://hooks.example.com/latchkey"
    )]
    pub url: String,
    /// 1 to 64 event types (`token.issued`), categories (`token.*`) or `*` for every event.
    #[schema(
        value_type = Vec<EventSelector>,
        example = json!(["token.*", "agent.revoked"]),
        min_items = 1,
        max_items = 64
    )]
    pub events: Vec<String>,
    /// Up to 500 characters.
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

/// A webhook endpoint. Its signing secret is shown only when it is created or rotated.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookBody {
    #[schema(example = "whe_0192f3a4b5c67d8e9f0a1b2c3d4e5f60")]
    pub id: String,
    pub url: String,
    /// True when the URL's host is one of the account's verified domains (`/v1/domains`) or a name
    /// under one. A flag only: deliveries are the same either way.
    pub verified_domain: bool,
    pub events: Vec<String>,
    pub description: Option<String>,
    /// `active`, or `disabled` (it answered 410 Gone, or failed for too long).
    #[schema(example = "active")]
    pub status: String,
    /// Why it is disabled: `gone` or `failing`.
    pub disabled_reason: Option<String>,
    /// Since when every delivery has failed; absent while healthy.
    pub failing_since: Option<DateTime<Utc>>,
    /// When the secret replaced by the last rotation stops signing; absent when none signs.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An endpoint with its signing secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub endpoint: WebhookBody,
    /// `whsec_…`: verify deliveries with any Standard Webhooks library. Shown only now.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub data: Vec<WebhookBody>,
}

/// A secret rotation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretBody {
    /// How long the current secret keeps signing beside the new one (0 to 2592000); default 86400.
    #[schema(minimum = 0, maximum = 2592000)]
    pub overlap_seconds: Option<i64>,
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryBody {
    #[schema(example = "wha_0192f3a4b5c67d8e9f0a1b2c3d4e5f60")]
    pub id: String,
    /// The message: its id is the `webhook-id` header of every attempt.
    #[schema(example = "msg_0192f3a4b5c67d8e9f0a1b2c3d4e5f60")]
    pub message_id: String,
    pub event_type: String,
    /// The message's state now: `pending`, `delivered` or `failed`.
    pub message_status: String,
    pub attempted_at: DateTime<Utc>,
    /// The HTTP status the receiver answered; absent when it answered none.
    pub status_code: Option<u16>,
    /// `succeeded` or `failed`.
    pub outcome: String,
    /// Why it failed: `timeout: …`, `connection: …`, `refused_address: …`, `http_status: 503`.
    pub error: Option<String>,
    pub latency_ms: i64,
    /// The first KiB of the response body.
    pub response_snippet: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    pub data: Vec<DeliveryBody>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// 1 to 500; 0 or absent: 50.
    #[param(minimum = 0, maximum = 500)]
    pub limit: Option<u32>,
    /// Attempts older than this one (a `next_cursor`).
    pub before: Option<String>,
}

/// A message queued for delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageBody {
    pub id: String,
    pub endpoint_id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// A replay: every message to the endpoint whose event happened in `[since, until)`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    /// After 1970-01-01T00:00:00Z.
    pub since: DateTime<Utc>,
    /// After `since`. Default: now.
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayResult {
    /// How many messages were queued again.
    pub queued: u32,
}
