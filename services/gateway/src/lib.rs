//! The REST edge of the Latchkey mesh: authenticates the caller by account API key, validates
//! input, calls the services over gRPC and shapes their answers; every error is one
//! `application/problem+json` document. Stateless apart from caches: authenticated keys (dropped
//! when their deletion event arrives) and per-key rate-limit buckets, both per process.
//!
//! Also serves `/openapi.json` (generated from the handlers), `/docs`, `/healthz`, `/readyz` and
//! `/metrics` (on a listener of its own when one is given: [`Gateway::with_metrics_listener`]).

mod agent_use;
mod auth;
mod config;
mod console;
mod edge;
mod id_path;
mod invalidation;
mod json;
mod key_cache;
mod list_cache;
mod mcp;
mod metrics;
mod openapi;
mod principal;
mod problem;
mod query;
mod rate_limit;
mod request_id;
mod routes;
mod server;
mod service_caller;
mod state;
mod token_verifier;
mod trace;
mod ttl_cache;

use std::{future::Future, num::NonZeroU32, sync::Arc, time::Duration};

use futures::FutureExt;
use latchkey_events::LiveFeed;
use latchkey_proto::{
    agent_token::v1::{
        agent_token_service_client::AgentTokenServiceClient, certificate_service_client::CertificateServiceClient,
    },
    audit::v1::audit_service_client::AuditServiceClient,
    policy::v1::policy_service_client::PolicyServiceClient,
};
use latchkey_server::{MeshChannel, Tasks};
use tokio::net::TcpListener;
use tokio_util::sync::DropGuard;

pub use auth::API_KEY_HEADER;
pub use config::GatewayConfig;
pub use metrics::{HTTP_REQUEST_DURATION_SECONDS, HTTP_REQUESTS_TOTAL};
pub use principal::Principal;
pub use problem::{PROBLEM_CONTENT_TYPE, ProblemDocument, ProblemFieldError, problem_type_uri};
pub use request_id::REQUEST_ID_HEADER;
pub use routes::openapi;
pub use service_caller::SERVICE_HEADER;

use crate::{
    invalidation::{
        ApiKeyCaches, Feeds, PlanCaches, ServiceKeyCaches, SweptCaches, api_key_events, plan_events, service_key_events,
    },
    key_cache::{KeyCache, ServiceKeyCache},
    list_cache::ListCache,
    rate_limit::KeyRateLimiter,
    routes::MetricsRoute,
    state::{AppState, ProxySettings, SharedState},
    token_verifier::TokenVerifier,
};

/// What the gateway talks to.
pub struct GatewayDeps {
    pub agent_token: AgentTokenServiceClient<MeshChannel>,
    /// Verified domains, served by agent-token beside it.
    pub domains: latchkey_proto::agent_token::v1::domain_service_client::DomainServiceClient<MeshChannel>,
    /// agent-token's certificates (a second service on the same server).
    pub certificates: CertificateServiceClient<MeshChannel>,
    pub audit: AuditServiceClient<MeshChannel>,
    pub policy: PolicyServiceClient<MeshChannel>,
    pub webhook: latchkey_proto::webhook::v1::webhook_service_client::WebhookServiceClient<MeshChannel>,
    pub oauth: latchkey_proto::oauth::v1::oauth_service_client::OauthServiceClient<MeshChannel>,
    pub vault: latchkey_proto::vault::v1::vault_service_client::VaultServiceClient<MeshChannel>,
    pub directory: latchkey_proto::directory::v1::directory_service_client::DirectoryServiceClient<MeshChannel>,
    /// Where `api_key.*` events arrive from, to drop deleted keys and changed lists from the caches.
    pub bus: latchkey_events::EventBus,
    /// The services /readyz checks with the gRPC health protocol.
    pub readiness: Vec<ReadinessCheck>,
    /// The deployment's provider catalogue, as the oauth service has it (`oauth.catalogue_file`):
    /// the providers `/credentials` takes keys for and the document names.
    pub catalogue: Arc<latchkey_oauth::Catalogue>,
    /// Where clients reach this API (`server.public_url`, no trailing slash): the base of the links
    /// the gateway hands out (connect links).
    pub public_url: String,
}

/// Why the gateway could not be built. Serving itself does not fail: accept errors are retried and
/// a connection's error ends that connection only (see `server`).
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("invalid gateway configuration: {0}")]
    Config(String),
}

/// A built gateway: its router and the background tasks that keep its caches current (they stop
/// when the gateway is dropped).
pub struct Gateway {
    router: axum::Router,
    state: AppState,
    config: GatewayConfig,
    /// Where `/metrics` is served instead of on the public listener, when it is.
    metrics_listener: Option<TcpListener>,
    /// Cancelled when the gateway stops: ends the MCP server's open streams.
    shutdown: tokio_util::sync::CancellationToken,
    /// Stops the background tasks when the gateway is dropped.
    _tasks: DropGuard,
}

impl Gateway {
    /// Builds the router and starts the key-cache invalidation task.
    pub async fn build(config: GatewayConfig, deps: GatewayDeps) -> Result<Self, GatewayError> {
        config.validate().map_err(GatewayError::Config)?;
        // Installs the process's metrics recorder before the first request is counted.
        latchkey_telemetry::metrics_handle();

        let keys = Arc::new(KeyCache::new(Duration::from_secs(config.key_cache_ttl_secs)));
        let (per_second, burst) = config.rate_limit_share();
        let rate_limiter = Arc::new(KeyRateLimiter::new(
            NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN),
            NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN),
        ));
        let lists = Arc::new(ListCache::new(Duration::from_secs(config.list_cache_ttl_secs)));
        let tokens = TokenVerifier::start(deps.agent_token.clone(), deps.bus.clone(), config.verified_token_cache);
        let caches = Arc::new(ApiKeyCaches {
            keys: keys.clone(),
            lists: lists.clone(),
        });
        // Subscribed before serving, so the first requests are already cached.
        let service_keys = Arc::new(ServiceKeyCache::new(Duration::from_secs(config.key_cache_ttl_secs)));
        let feeds = Feeds {
            keys: LiveFeed::subscribe(deps.bus.clone(), api_key_events(), caches).await,
            service_keys: LiveFeed::subscribe(
                deps.bus.clone(),
                service_key_events(),
                Arc::new(ServiceKeyCaches {
                    service_keys: service_keys.clone(),
                }),
            )
            .await,
            plans: LiveFeed::subscribe(
                deps.bus,
                plan_events(),
                Arc::new(PlanCaches {
                    keys: keys.clone(),
                    service_keys: service_keys.clone(),
                }),
            )
            .await,
        };
        let tasks = Tasks::new("gateway");
        invalidation::start(
            &tasks,
            feeds,
            SweptCaches {
                keys: keys.clone(),
                service_keys: service_keys.clone(),
                lists: lists.clone(),
                rate_limiter: rate_limiter.clone(),
            },
        );

        let state = AppState::new(SharedState {
            draining: Arc::default(),
            agent_token: deps.agent_token,
            domains: deps.domains,
            certificates: deps.certificates,
            audit: deps.audit,
            policy: deps.policy,
            webhook: deps.webhook,
            oauth: deps.oauth,
            vault: deps.vault,
            directory: deps.directory,
            keys,
            service_keys,
            lists,
            tokens,
            rate_limiter,
            readiness: deps.readiness.into(),
            catalogue: deps.catalogue,
            public_url: deps.public_url.trim_end_matches('/').into(),
            proxy: ProxySettings {
                client: config.proxy_client().map_err(GatewayError::Config)?,
                policy: config.proxy_address_policy(),
                body_limit_bytes: config.proxy_body_limit_bytes,
            },
        });
        Ok(Self {
            router: routes::router(
                state.clone(),
                &config,
                MetricsRoute::Public,
                tasks.shutdown_token().clone(),
            ),
            state,
            config,
            metrics_listener: None,
            shutdown: tasks.shutdown_token().clone(),
            _tasks: tasks.shutdown_token().clone().drop_guard(),
        })
    }

    /// Serves `/metrics` (and `/healthz`, for probes of that port) on `listener` only, so the
    /// public port answers 404 for `/metrics` (`server.metrics_listen`).
    pub fn with_metrics_listener(mut self, listener: TcpListener) -> Self {
        self.router = routes::router(
            self.state.clone(),
            &self.config,
            MetricsRoute::Separate,
            self.shutdown.clone(),
        );
        self.metrics_listener = Some(listener);
        self
    }

    /// The public application as an axum router (for tests: `tower::ServiceExt::oneshot`).
    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }

    /// Serves on `listener` (and the metrics listener, if any) until `shutdown` resolves, then lets
    /// in-flight requests finish. A connection whose request head does not arrive within
    /// `header_read_timeout_secs` is closed (see `server`).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), GatewayError> {
        let header_read_timeout = self.config.header_read_timeout();
        // Told to stop: /readyz fails first, and requests are still served for the drain period
        // (server.shutdown_drain_secs), so a load balancer stops sending before the listener closes.
        let draining = self.state.draining.clone();
        let shutdown = async move {
            shutdown.await;
            draining.store(true, std::sync::atomic::Ordering::Release);
            latchkey_server::drain_before_stopping().await;
        }
        .boxed()
        .shared();
        let public = server::serve(listener, self.router.clone(), header_read_timeout, shutdown.clone());
        match self.metrics_listener {
            Some(metrics) => {
                let metrics = server::serve(metrics, routes::metrics_only(), header_read_timeout, shutdown);
                tokio::join!(public, metrics);
            }
            None => public.await,
        }
        Ok(())
    }
}

/// A service `/readyz` asks: its gRPC health name, a channel to it, and whether the gateway is
/// ready without it. Only an essential one failing fails `/readyz`; any other is reported as
/// degraded (docs/operations.md, "Readiness").
#[derive(Clone, Debug)]
pub struct ReadinessCheck {
    pub service: String,
    pub channel: MeshChannel,
    pub essential: bool,
}

/// `/metrics` and `/healthz` as a router of their own, for a process that serves its metrics on a
/// separate port (`server.metrics_listen`).
pub fn metrics_router() -> axum::Router {
    routes::metrics_only()
}
