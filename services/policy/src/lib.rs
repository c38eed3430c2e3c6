//! The policy service: an account's policies (rules that allow, deny, throttle or hold token
//! requests), its policy settings, and evaluation of a token request against them. It owns its
//! tables, answers over gRPC to mesh callers only, and announces every change to a policy as a
//! domain event through its transactional outbox. The rules themselves are the [`engine`]'s.

mod approvals;
mod cache;
mod config;
pub mod engine;
mod error;
mod evaluation;
mod grpc;
mod policies;
mod rules_json;
mod settings;
mod throttle;

use std::{sync::Arc, time::Duration};

use latchkey_events::{EventBus, LiveFeed, Outbox};
use latchkey_proto::{
    agent_token::v1::agent_token_service_client::AgentTokenServiceClient,
    policy::v1::policy_service_server::PolicyServiceServer,
};
use latchkey_server::{MeshAuth, MeshChannel, ServiceRun};
use latchkey_storage::{Db, Migration, migrations};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use approvals::{
    Approval, ApprovalPage, ApprovalStatus, DEFAULT_APPROVAL_PAGE, DEFAULT_APPROVAL_TTL_SECS, MAX_APPROVAL_PAGE,
    MAX_PENDING_APPROVALS_PER_AGENT,
};
pub use config::PolicyConfig;
pub use error::PolicyError;
pub use evaluation::{AgentFacts, Enforcement, Evaluation, EvaluationRequest, Outcome};
pub use policies::StoredPolicy;
pub use settings::{DefaultEffect, PolicySettings};

/// The `source` of every event this service emits.
pub const EVENT_SOURCE: &str = "/latchkey/policy";
/// How long an account's compiled policies are used from memory, seconds (`policy.cache_ttl_secs`).
pub const DEFAULT_CACHE_TTL_SECS: u64 = 60;
/// The fully qualified gRPC service name, as health reports it.
pub const GRPC_SERVICE: &str = "latchkey.policy.v1.PolicyService";

const MIGRATIONS: &[Migration] = migrations![(1, "0001_policies"), (2, "0002_throttles_and_approvals")];

/// The service's state: its database, outbox, the agent-token client it looks agents up with, and
/// the accounts' compiled policies. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Policy {
    db: Db,
    outbox: Outbox,
    mesh: MeshAuth,
    agents: AgentTokenServiceClient<MeshChannel>,
    cache: Arc<cache::PolicyCache>,
    /// How long a pending approval waits for a decision (and an approved one for its redemption).
    approval_ttl: Duration,
    /// The deployment's plans: the limit on policies.
    plans: latchkey_server::Plans,
}

/// Brings `db` to this build's schema: the service's migrations, then the outbox's, each under the
/// migration lock, so replicas and `latchkey migrate policy` may run it at the same time. What
/// [`Policy::open`] does first; answers the outbox it opened.
pub async fn migrate(db: &Db) -> Result<Outbox, PolicyError> {
    db.migrate("policy", MIGRATIONS).await?;
    Ok(Outbox::open(db.clone(), EVENT_SOURCE).await?)
}

impl Policy {
    /// Opens the service on `db`, applying its migrations. `agents` reaches agent-token (for the
    /// attributes of the agent a dry run names).
    pub async fn open(
        db: Db,
        mesh: MeshAuth,
        agents: AgentTokenServiceClient<MeshChannel>,
    ) -> Result<Self, PolicyError> {
        let outbox = migrate(&db).await?;
        Ok(Self {
            db,
            outbox,
            mesh,
            agents,
            cache: Arc::new(cache::PolicyCache::new(Duration::from_secs(DEFAULT_CACHE_TTL_SECS))),
            approval_ttl: Duration::from_secs(DEFAULT_APPROVAL_TTL_SECS),
            plans: latchkey_server::Plans::default(),
        })
    }

    /// Sets the deployment's plans (the default: one unlimited plan).
    #[must_use]
    pub fn with_plans(mut self, plans: latchkey_server::Plans) -> Self {
        self.plans = plans;
        self
    }

    /// Applies the `[policy]` settings.
    #[must_use]
    pub fn with_config(self, config: &PolicyConfig) -> Self {
        self.with_approval_ttl(Duration::from_secs(config.approval_ttl_secs))
            .with_cache_ttl(Duration::from_secs(config.cache_ttl_secs))
    }

    /// Sets how long an account's compiled policies are used from memory after they were loaded
    /// (default one minute; zero: never). Call before [`run`](Self::run).
    #[must_use]
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache = Arc::new(cache::PolicyCache::new(ttl));
        self
    }

    /// Sets how long a pending approval waits for a decision (default one hour); an approved one can
    /// then be redeemed for as long again.
    #[must_use]
    pub fn with_approval_ttl(mut self, ttl: Duration) -> Self {
        self.approval_ttl = ttl.max(Duration::from_secs(1));
        self
    }

    fn approval_ttl_ms(&self) -> i64 {
        i64::try_from(self.approval_ttl.as_millis()).unwrap_or(i64::MAX / 2)
    }

    /// Serves gRPC on `listener` and relays the outbox to `bus` until `shutdown` is cancelled.
    pub async fn run(
        self,
        listener: TcpListener,
        bus: EventBus,
        shutdown: CancellationToken,
    ) -> Result<(), PolicyError> {
        let run = ServiceRun::start("policy", &self.mesh, shutdown.clone()).depends_on(&self.db, &bus);
        // Until it has subscribed, the cache is off and evaluations read the database.
        let (feed_bus, compiled) = (bus.clone(), self.cache.clone());
        run.tasks().spawn_until_shutdown("policy-events", async move {
            LiveFeed::subscribe(feed_bus, cache::policy_events(), compiled)
                .await
                .run()
                .await;
        });
        run.tasks()
            .spawn("counter-sweep", self.clone().sweep_counters(shutdown));
        run.relay_outbox(self.outbox.clone(), bus);
        let routes = tonic::service::Routes::new(PolicyServiceServer::new(grpc::GrpcApi::new(self)));
        Ok(run.serve(listener, routes, &[GRPC_SERVICE]).await?)
    }
}
