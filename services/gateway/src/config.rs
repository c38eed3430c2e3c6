//! `[gateway]` in the configuration file: the edge's limits.

use std::time::Duration;

use serde::Deserialize;

/// The gateway's settings. Every field has a default, so an empty section is a valid configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Largest request body accepted, bytes. Default 1 MiB (1048576).
    pub body_limit_bytes: usize,
    /// Requests per second allowed per API key (sustained), across the deployment. Default 100.
    pub rate_limit_per_second: u32,
    /// Burst above the sustained rate: how many requests one key may make back to back before the
    /// sustained rate applies (the bucket's size). Default 200.
    pub rate_limit_burst: u32,
    /// How many gateway replicas share the limits above. Each keeps its own buckets in memory and
    /// allows its share (the limit divided by this, rounded down, at least 1), so the replicas
    /// together never allow more than the limit; a client whose requests all reach one replica gets
    /// that replica's share. Default 1.
    pub rate_limit_replicas: u32,
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
    /// The credential proxy (`/proxy/…`): the largest request or response body it carries, bytes.
    /// A larger request is refused (413); a larger answer is cut off (502 when its length is
    /// announced). Default 10 MiB (10485760).
    pub proxy_body_limit_bytes: usize,
    /// How long the proxy waits for a provider's answer to begin, seconds. Default 30; at least 1.
    pub proxy_timeout_secs: u64,
    /// Whether the proxy may reach loopback addresses (a catalogue's provider on this machine).
    /// Off by default; `latchkey dev` turns it on, as it does for webhooks.
    pub proxy_allow_loopback: bool,
    /// Whether the proxy may reach private, link-local and metadata addresses. Off by default.
    pub proxy_allow_private: bool,
    /// `Host` values `/mcp` answers besides `server.public_url`'s host and the loopback names;
    /// any other is refused (403) against DNS rebinding. E.g. `["gateway.internal:7100"]`.
    pub mcp_allowed_hosts: Vec<String>,
    /// Browser origins allowed to call `/mcp` besides `server.public_url`'s own (a request with
    /// any other `Origin` is refused, 403). E.g. `["https://agents.example.com"]`.
    pub mcp_allowed_origins: Vec<String>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            rate_limit_per_second: 100,
            rate_limit_burst: 200,
            rate_limit_replicas: 1,
            key_cache_ttl_secs: 60,
            list_cache_ttl_secs: 5,
            verified_token_cache: 50_000,
            header_read_timeout_secs: 10,
            request_timeout_secs: 30,
            proxy_body_limit_bytes: 10 * 1024 * 1024,
            proxy_timeout_secs: 30,
            proxy_allow_loopback: false,
            proxy_allow_private: false,
            mcp_allowed_hosts: Vec::new(),
            mcp_allowed_origins: Vec::new(),
        }
    }
}

impl GatewayConfig {
    /// This replica's share of the per-key limits: (sustained per second, burst).
    pub(crate) fn rate_limit_share(&self) -> (u32, u32) {
        let replicas = self.rate_limit_replicas.max(1);
        (
            (self.rate_limit_per_second / replicas).max(1),
            (self.rate_limit_burst / replicas).max(1),
        )
    }

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
        if self.rate_limit_replicas == 0 {
            return Err("gateway.rate_limit_replicas must be at least 1".to_owned());
        }
        if self.header_read_timeout_secs == 0 {
            return Err("gateway.header_read_timeout_secs must be at least 1".to_owned());
        }
        if self.request_timeout_secs == 0 {
            return Err("gateway.request_timeout_secs must be at least 1".to_owned());
        }
        if self.proxy_body_limit_bytes == 0 {
            return Err("gateway.proxy_body_limit_bytes must be at least 1".to_owned());
        }
        if self.proxy_timeout_secs == 0 {
            return Err("gateway.proxy_timeout_secs must be at least 1".to_owned());
        }
        Ok(())
    }

    pub(crate) fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// The client the credential proxy calls providers with: the egress guard's (no redirects, no
    /// proxy, addresses vetted when resolved), the proxy's timeout.
    pub(crate) fn proxy_client(&self) -> Result<reqwest::Client, String> {
        latchkey_egress::client_builder(self.proxy_address_policy())
            .connect_timeout(Duration::from_secs(self.proxy_timeout_secs.min(10)))
            .read_timeout(Duration::from_secs(self.proxy_timeout_secs))
            .pool_max_idle_per_host(64)
            .user_agent(concat!("Latchkey-Proxy/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| format!("the proxy's HTTP client: {error}"))
    }

    pub(crate) fn proxy_address_policy(&self) -> latchkey_egress::AddressPolicy {
        latchkey_egress::AddressPolicy::new(self.proxy_allow_loopback, self.proxy_allow_private)
    }
}
