//! What every handler gets: the service clients and the gateway's shared caches, behind one `Arc`.
//!
//! axum clones the state for every request. A tonic client's clone is not cheap: it clones a
//! `tower::buffer::Buffer` (several atomic reference counts and a semaphore permit slot) and the
//! channel's `Uri`, and six of them per request, contended across worker threads, cost more than
//! the rest of a cached `GET /v1/api-keys` (docs/benchmarks.md). One `Arc` makes the clone one
//! increment; a handler clones the one client it calls.

use std::{ops::Deref, sync::Arc};

use latchkey_proto::{
    agent_token::v1::agent_token_service_client::AgentTokenServiceClient,
    audit::v1::audit_service_client::AuditServiceClient, policy::v1::policy_service_client::PolicyServiceClient,
};
use latchkey_server::MeshChannel;

use crate::{key_cache::KeyCache, list_cache::ListCache, rate_limit::KeyRateLimiter, token_verifier::TokenVerifier};

#[derive(Clone)]
pub(crate) struct AppState(Arc<SharedState>);

impl AppState {
    pub(crate) fn new(shared: SharedState) -> Self {
        Self(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

pub(crate) struct SharedState {
    pub(crate) agent_token: AgentTokenServiceClient<MeshChannel>,
    pub(crate) domains: latchkey_proto::agent_token::v1::domain_service_client::DomainServiceClient<MeshChannel>,
    pub(crate) certificates:
        latchkey_proto::agent_token::v1::certificate_service_client::CertificateServiceClient<MeshChannel>,
    pub(crate) audit: AuditServiceClient<MeshChannel>,
    pub(crate) policy: PolicyServiceClient<MeshChannel>,
    pub(crate) webhook: latchkey_proto::webhook::v1::webhook_service_client::WebhookServiceClient<MeshChannel>,
    pub(crate) oauth: latchkey_proto::oauth::v1::oauth_service_client::OauthServiceClient<MeshChannel>,
    pub(crate) vault: latchkey_proto::vault::v1::vault_service_client::VaultServiceClient<MeshChannel>,
    pub(crate) directory: latchkey_proto::directory::v1::directory_service_client::DirectoryServiceClient<MeshChannel>,
    pub(crate) keys: Arc<KeyCache>,
    /// Authenticated service API keys (the service API's callers).
    pub(crate) service_keys: Arc<crate::key_cache::ServiceKeyCache>,
    pub(crate) lists: Arc<ListCache>,
    /// Verifies agent tokens in this process.
    pub(crate) tokens: TokenVerifier,
    pub(crate) rate_limiter: Arc<KeyRateLimiter>,
    /// The services `/readyz` checks.
    pub(crate) readiness: Arc<[crate::ReadinessCheck]>,
    /// Set once the gateway was told to stop: `/readyz` fails while it drains.
    pub(crate) draining: Arc<std::sync::atomic::AtomicBool>,
    /// The deployment's provider catalogue (the built-in one and `oauth.catalogue_file`'s).
    pub(crate) catalogue: Arc<latchkey_oauth::Catalogue>,
    /// Where clients reach this API, without a trailing slash: the base of connect links.
    pub(crate) public_url: Arc<str>,
    /// The credential proxy's client and limits.
    pub(crate) proxy: ProxySettings,
}

/// How the credential proxy reaches providers (`gateway.proxy_*`).
pub(crate) struct ProxySettings {
    pub(crate) client: reqwest::Client,
    pub(crate) policy: latchkey_egress::AddressPolicy,
    pub(crate) body_limit_bytes: usize,
}
