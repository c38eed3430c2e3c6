//! The one envelope every domain event travels in: CloudEvents 1.0 attributes plus Latchkey's
//! extensions (`account`, `actor`, `decisionid`, `traceparent`), serialised as JSON.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalogue::DomainEvent;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub specversion: String,
    /// UUIDv7: unique, and ordered by creation time. Doubles as `Nats-Msg-Id` for deduplication.
    pub id: String,
    /// The service that emitted it, e.g. `/latchkey/agent-token`.
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub time: DateTime<Utc>,
    /// The resource the event is about (e.g. an API key id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub account: String,
    /// Who caused it: an API key id, an agent id, or `system`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The decision this event records, shared with the audit entry and the webhook payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decisionid: Option<String>,
    /// W3C trace context of the request that caused the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    pub datacontenttype: String,
    pub data: serde_json::Value,
}

impl Envelope {
    /// Wraps `event` for `account`, stamped now, in the current trace.
    pub fn new<E: DomainEvent>(source: &str, account: &str, actor: Option<&str>, event: &E) -> Self {
        Self {
            specversion: "1.0".to_owned(),
            id: uuid::Uuid::now_v7().to_string(),
            source: source.to_owned(),
            event_type: E::TYPE.as_str().to_owned(),
            time: Utc::now(),
            subject: event.subject(),
            account: account.to_owned(),
            actor: actor.map(str::to_owned),
            decisionid: None,
            traceparent: latchkey_telemetry::current_traceparent(),
            datacontenttype: "application/json".to_owned(),
            // Serialising a plain data struct cannot fail.
            data: serde_json::to_value(event).unwrap_or(serde_json::Value::Null),
        }
    }

    /// The NATS subject this event is published on: `<prefix>.events.<account>.<type>`.
    pub fn subject_under(&self, prefix: &str) -> String {
        format!("{prefix}.events.{}.{}", self.account, self.event_type)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests;
