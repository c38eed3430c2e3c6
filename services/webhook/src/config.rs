//! The service's settings (`[webhook]` in `src/defaults.toml`, which documents each one). Every
//! timing is configurable so tests run the whole retry story in milliseconds.

use std::time::Duration;

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Deliver to loopback addresses (127.0.0.0/8, ::1). `latchkey dev` turns it on.
    pub allow_loopback: bool,
    /// Deliver to private, link-local, CGNAT, unique-local and cloud metadata addresses.
    pub allow_private: bool,
    /// How long one delivery may take, connection included.
    pub request_timeout_ms: u64,
    /// The first retry delay; each further retry doubles it (with jitter) up to `retry_max_ms`.
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// Attempts per message before it is marked failed.
    pub max_attempts: u32,
    /// An endpoint failing this long is announced (`endpoint.failing`)…
    pub failing_warn_after_secs: u64,
    /// …and disabled after this long (`endpoint.disabled`).
    pub disable_after_secs: u64,
    /// How long a rotated-out secret keeps signing, unless the rotation says otherwise.
    pub secret_overlap_secs: u64,
    /// How often the delivery worker looks for due messages when nothing wakes it earlier.
    pub poll_interval_ms: u64,
    /// A claimed message is another worker's after this long (a crashed worker's messages come back).
    /// Must exceed `request_timeout_ms`.
    pub lease_ms: u64,
    /// Deliveries in flight at once, per worker.
    pub concurrency: usize,
    /// Messages claimed per round.
    pub batch_size: u32,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            allow_loopback: false,
            allow_private: false,
            request_timeout_ms: 10_000,
            retry_initial_ms: 5_000,
            retry_max_ms: 2 * 60 * 60 * 1000,
            max_attempts: 30,
            failing_warn_after_secs: 24 * 60 * 60,
            disable_after_secs: 5 * 24 * 60 * 60,
            secret_overlap_secs: 24 * 60 * 60,
            poll_interval_ms: 500,
            lease_ms: 60_000,
            concurrency: 256,
            batch_size: 512,
        }
    }
}

impl WebhookConfig {
    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms.max(1))
    }

    /// Which addresses deliveries may reach.
    pub(crate) fn address_policy(&self) -> latchkey_egress::AddressPolicy {
        latchkey_egress::AddressPolicy::new(self.allow_loopback, self.allow_private)
    }

    pub(crate) fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms.max(1))
    }
}
