//! The agent-token service: accounts and their API keys, agent identities, and the Ed25519-signed
//! agent tokens they request (issue, delegate, verify, revoke; the token format itself is
//! `latchkey_tokens`'), and the web console's sessions. It owns its tables, answers over gRPC, and
//! announces every change as a domain event through its transactional outbox.

mod agents;
mod api_keys;
pub mod certificates;
mod config;
mod console_sessions;
mod delegate;
mod domains;
mod error;
mod grpc;
mod issue;
mod limits;
mod plans;
mod policy_gate;
mod revoke;
use latchkey_server::secrets;
mod signing;
mod token_use;
mod verification;

use latchkey_events::{EventBus, Outbox};
use latchkey_proto::agent_token::v1::{
    agent_token_service_server::AgentTokenServiceServer, certificate_service_server::CertificateServiceServer,
};
use latchkey_server::{MeshAuth, ServiceRun, SystemSecrets};
use latchkey_storage::{Db, Migration, migrations};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The token format, key rings and offline verifier, re-exported where this service's code and its
/// users have always found them.
pub use latchkey_tokens as tokens;

pub use agents::{Agent, AgentAction, AgentStatus, CreatedAgent, NewAgent};
pub use api_keys::{ApiKey, CreatedApiKey, Principal};
pub use config::{AgentTokenConfig, AgentTokenConfigError};
pub use console_sessions::{ConsoleActor, ConsoleSession, MAX_SESSIONS_PER_ACCOUNT, StartedConsoleSession};
pub use delegate::Delegation;
pub use domains::{
    DOMAIN_GRPC_SERVICE, Domain, DomainRound, DomainStatus, DomainsConfig, DomainsConfigError, Reason as DomainReason,
    normalize_domain,
};
pub use error::AgentTokenError;
pub use issue::{DEFAULT_TTL_SECS, HeldForApproval, IssueOutcome, IssuedToken, MAX_TTL_SECS, Requester, TokenRequest};
pub use plans::{AccountUsage, PlanMove};
pub use policy_gate::PolicyClient;
pub use revoke::RevokedToken;
pub use signing::SigningKeys;
pub use token_use::{AuthorizedUse, LATCHKEY_AUDIENCE};
pub use verification::{Verdict, Verification};

/// The `source` of every event this service emits.
pub const EVENT_SOURCE: &str = "/latchkey/agent-token";
/// The fully qualified gRPC service name, as health reports it.
pub const GRPC_SERVICE: &str = "latchkey.agent_token.v1.AgentTokenService";

const MIGRATIONS: &[Migration] = migrations![
    (1, "0001_accounts_and_api_keys"),
    (2, "0002_agents"),
    (3, "0003_signing_keys"),
    (4, "0004_sealed_signing_keys"),
    (5, "0005_certificates"),
    (6, "0006_domains"),
    (7, "0007_account_plans"),
    (8, "0008_console_sessions"),
    (9, "0009_first_signing_key"),
];

/// The service's state: its database and outbox. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AgentToken {
    db: Db,
    outbox: Outbox,
    mesh: MeshAuth,
    signing_keys: SigningKeys,
    verification: Verification,
    /// The `iss` of every token.
    issuer: std::sync::Arc<str>,
    /// Decides every issue; without it, issue refuses (fails closed).
    policy: Option<PolicyClient>,
    /// How often tokens may be asked for (per agent, account and delegating token).
    limits: std::sync::Arc<limits::RequestLimits>,
    /// The DNS checks of verified domains and their round's timing (`[domains]`).
    domains: std::sync::Arc<domains::DomainChecks>,
    /// The audience of certificate JWTs and the gate of key generation.
    certificates: certificates::CertificateSettings,
    /// The deployment's plans: the limits on agents, API keys and tokens per month.
    plans: latchkey_server::Plans,
    /// How long console sessions live (`[agent_token]`).
    console_sessions: console_sessions::SessionSettings,
    /// Certificate JWTs' `jti`s, recorded as used by group commit.
    used_jtis: certificates::UsedJtis,
}

/// How often an instance re-reads the signing keys, so a key another instance rotated in is held
/// long before it signs (rotation publishes keys 600 s ahead by default).
const KEY_RELOAD_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// The `iss` claim of Latchkey's agent tokens.
pub const ISSUER: &str = "latchkey";

/// Brings `db` to this build's schema: the service's migrations, then the outbox's, each under the
/// migration lock, so replicas and `latchkey migrate agent-token` may run it at the same time. What
/// [`AgentToken::open`] does first; answers the outbox it opened.
pub async fn migrate(db: &Db) -> Result<Outbox, AgentTokenError> {
    db.migrate("agent-token", MIGRATIONS).await?;
    Ok(Outbox::open(db.clone(), EVENT_SOURCE).await?)
}

impl AgentToken {
    /// Opens the service on `db`, applying its migrations. The signing keys are sealed in `vault`:
    /// [`run`](Self::run) opens them (waiting for the vault) before it serves.
    pub async fn open(db: Db, mesh: MeshAuth, vault: SystemSecrets) -> Result<Self, AgentTokenError> {
        let outbox = migrate(&db).await?;
        let signing_keys = SigningKeys::new(vault);
        Ok(Self {
            db,
            outbox,
            mesh,
            verification: Verification::new(signing_keys.clone()),
            signing_keys,
            issuer: ISSUER.into(),
            policy: None,
            limits: std::sync::Arc::new(limits::RequestLimits::new(&AgentTokenConfig::default())),
            domains: std::sync::Arc::new(domains::DomainChecks::defaults()),
            certificates: certificates::CertificateSettings::default(),
            plans: latchkey_server::Plans::default(),
            console_sessions: console_sessions::SessionSettings::new(&AgentTokenConfig::default()),
            used_jtis: certificates::used_jtis(),
        })
    }

    /// Applies the `[domains]` settings: the name servers domain checks ask, their timeout, the
    /// re-check interval and how long a domain may stay pending.
    pub fn with_domains(mut self, config: &DomainsConfig) -> Result<Self, DomainsConfigError> {
        self.domains = std::sync::Arc::new(domains::DomainChecks::new(config)?);
        Ok(self)
    }

    /// Sets this deployment's public URL (`server.public_url`): the `aud` a certificate JWT must
    /// carry. Without one, every certificate JWT is refused.
    #[must_use]
    pub fn with_public_url(mut self, public_url: &str) -> Self {
        self.certificates = self.certificates.with_audience(public_url);
        self
    }

    /// Applies the `[agent_token]` settings (request rate limits, console session lifetimes),
    /// refusing ones the service cannot run with.
    pub fn with_config(mut self, config: &AgentTokenConfig) -> Result<Self, AgentTokenConfigError> {
        config.validate()?;
        self.limits = std::sync::Arc::new(limits::RequestLimits::new(config));
        self.console_sessions = console_sessions::SessionSettings::new(config);
        Ok(self)
    }

    /// Sets the deployment's plans (the default: one unlimited plan).
    #[must_use]
    pub fn with_plans(mut self, plans: latchkey_server::Plans) -> Self {
        self.plans = plans;
        self
    }

    /// Sets the policy service every token issue asks. Without one, issue answers
    /// `SERVICE_UNAVAILABLE`: tokens are never issued unchecked.
    #[must_use]
    pub fn with_policy(mut self, policy: PolicyClient) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Opens the signing keys from the vault (sealing any still stored in plaintext, creating the
    /// first on a deployment's first start), then serves gRPC on `listener`; relays the outbox to
    /// `bus` throughout, until `shutdown` is cancelled. The vault may come up after this service
    /// (`latchkey dev` starts it later; in the mesh it is a process of its own): until it answers,
    /// nothing is served and the wait is logged; a shutdown ends the wait.
    pub async fn run(
        self,
        listener: TcpListener,
        bus: EventBus,
        shutdown: CancellationToken,
    ) -> Result<(), AgentTokenError> {
        let run = ServiceRun::start("agent-token", &self.mesh, shutdown.clone()).depends_on(&self.db, &bus);
        run.tasks().spawn(
            "revocations",
            self.verification.clone().follow(bus.clone(), shutdown.clone()),
        );
        run.relay_outbox(self.outbox.clone(), bus);
        let loaded = run.once_vault_answers(
            "agent-token signing keys",
            AgentTokenError::is_vault_unavailable,
            || self.signing_keys.load(&self.db),
        );
        let Some(run) = loaded.await? else {
            // Stopped before the vault answered.
            return Ok(());
        };
        run.tasks().spawn(
            "signing-key-reload",
            self.clone().reload_keys_periodically(shutdown.clone()),
        );
        run.tasks().spawn(
            "certificate-jti-prune",
            self.clone().prune_used_jtis_periodically(shutdown.clone()),
        );
        run.tasks().spawn(
            "console-session-prune",
            self.clone().prune_console_sessions_periodically(shutdown.clone()),
        );
        run.tasks()
            .spawn("domain-checks", self.clone().check_domains_periodically(shutdown));
        let routes = tonic::service::Routes::new(AgentTokenServiceServer::new(grpc::GrpcApi::new(self.clone())))
            .add_service(CertificateServiceServer::new(certificates::CertificateApi::new(
                self.clone(),
            )))
            .add_service(domains::grpc::domain_service(self));
        Ok(run
            .serve(
                listener,
                routes,
                &[GRPC_SERVICE, certificates::GRPC_SERVICE, DOMAIN_GRPC_SERVICE],
            )
            .await?)
    }

    async fn reload_keys_periodically(self, shutdown: CancellationToken) {
        let mut interval = tokio::time::interval(KEY_RELOAD_INTERVAL);
        interval.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = interval.tick() => {
                    self.limits.retain_recent();
                    if let Err(error) = self.signing_keys.reload(&self.db).await {
                        tracing::warn!(%error, "cannot reload the signing keys; keeping the ones held");
                    }
                }
            }
        }
    }
}
