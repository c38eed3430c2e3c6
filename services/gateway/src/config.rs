//! `[gateway]` in the configuration file: the edge's limits.

use std::time::Duration;

use serde::Deserialize;

/// The gateway's settings. Every field has a default, so an empty section is a valid configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Largest request body accepted, bytes. Default 1 MiB (1048576).
    pub body_limit_bytes: usize,
    /// Requests per second allowed per API key (sustained). Default 100.
    /// The limit is kept per gateway process: N gateways allow up to N times this rate in total.
    pub rate_limit_per_second: u32,
    /// Burst above the sustained rate: how many requests one key may make back to back before the
    /// sustained rate applies (the bucket's size). Default 200.
    pub rate_limit_burst: u32,
    /// How long an authenticated key stays cached without a deletion event. Default 60 (seconds);
    /// 0 turns the cache off (every request asks agent-token).
    pub key_cache_ttl_secs: u64,
    /// How long the rendered `GET /v1/api-keys` page of an account stays cached without an
    /// `api_key.*` event for it. Default 5 (seconds), which also bounds how stale a listed
    /// `last_used_at` can be; 0 turns the cache off (every list asks agent-token).
    pub list_cache_ttl_secs: u64,
    /// How many agent tokens found authentic are remembered, so verifying one again skips its
    /// Ed25519 signature check (time, audience, scope and revocation are still checked every time).
    /// Default 50000; 0 turns the cache off.
    pub verified_token_cache: usize,
    /// How long a client may take to send a request's line and headers, seconds; the connection is
    /// closed when it has not (slowloris). Also how long an idle keep-alive connection stays open
    /// waiting for its next request (keep a load balancer's idle timeout below it). Default 10; at
    /// least 1.
    pub header_read_timeout_secs: u64,
    /// How long a request may take from its head to the head of its answer (reading the body and
    /// calling the services included), seconds; after it the gateway answers 503
    /// `SERVICE_UNAVAILABLE`. A streamed body (the audit export) is not cut: it runs as long as it
    /// streams. Default 30; at least 1.
    pub request_timeout_secs: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            rate_limit_per_second: 100,
            rate_limit_burst: 200,
            key_cache_ttl_secs: 60,
            list_cache_ttl_secs: 5,
            verified_token_cache: 50_000,
            header_read_timeout_secs: 10,
            request_timeout_secs: 30,
        }
    }
}

impl GatewayConfig {
    /// Rejects settings the gateway cannot run with, naming the setting.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.body_limit_bytes == 0 {
            return Err("gateway.body_limit_bytes must be at least 1".to_owned());
        }
        if self.rate_limit_per_second == 0 {
            return Err("gateway.rate_limit_per_second must be at least 1".to_owned());
        }
        if self.rate_limit_burst == 0 {
            return Err("gateway.rate_limit_burst must be at least 1".to_owned());
        }
        if self.header_read_timeout_secs == 0 {
            return Err("gateway.header_read_timeout_secs must be at least 1".to_owned());
        }
        if self.request_timeout_secs == 0 {
            return Err("gateway.request_timeout_secs must be at least 1".to_owned());
        }
        Ok(())
    }

    pub(crate) fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}
