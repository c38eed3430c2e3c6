//! Starting services: one at a time (`latchkey serve`) or the whole mesh in one process
//! (`latchkey dev`, and the end-to-end tests). Either way each service gets its own database and
//! listener, and services reach each other over gRPC.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use latchkey_events::EventBus;
use latchkey_gateway::{Gateway, GatewayDeps};
use latchkey_proto::{
    agent_token::v1::{CreateAccountRequest, agent_token_service_client::AgentTokenServiceClient},
    audit::v1::audit_service_client::AuditServiceClient,
    policy::v1::policy_service_client::PolicyServiceClient,
};
use latchkey_server::{MeshAuth, Tasks};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use crate::context::{DatabasePlan, MeshUrls, ServiceContext, ServiceSettings};
use crate::{cli::Service, context::mesh_urls};

/// The gRPC services, in the order of their default ports (7101…).
pub const GRPC_SERVICES: [Service; 7] = [
    Service::AgentToken,
    Service::Audit,
    Service::Policy,
    Service::Vault,
    Service::Oauth,
    Service::Webhook,
    Service::Directory,
];

/// How long the processes' sets wait for their services once told to stop: a little longer than
/// each service waits for its own tasks, so a service names its own stragglers first.
const SERVICE_GRACE: Duration = latchkey_server::DEFAULT_GRACE.saturating_add(Duration::from_secs(2));

/// The task set a process runs its services in: it stops when `shutdown` is cancelled.
pub fn service_tasks(shutdown: CancellationToken) -> Tasks {
    // A drain (server.shutdown_drain_secs) comes before the services stop at all.
    Tasks::with_shutdown("latchkey", shutdown).with_grace(SERVICE_GRACE + latchkey_server::shutdown_drain())
}

/// Starts `service` on `listener` in a task set of its own that stops with `shutdown` (see
/// [`start_service`]); [`Tasks::join`] on it waits for the service to end.
pub async fn spawn_service(
    service: Service,
    listener: TcpListener,
    context: &ServiceContext,
    shutdown: CancellationToken,
) -> anyhow::Result<Tasks> {
    let tasks = service_tasks(shutdown);
    start_service(service, listener, context, &tasks).await?;
    Ok(tasks)
}

/// Starts `service` on `listener` (HTTP for the gateway, gRPC otherwise) as the task named after
/// it in `tasks`. It ends when the set stops; a service that fails stops the set too, so a process
/// never keeps running half of its services.
pub async fn start_service(
    service: Service,
    listener: TcpListener,
    context: &ServiceContext,
    tasks: &Tasks,
) -> anyhow::Result<()> {
    let name = service.name();
    let shutdown = tasks.shutdown_token().clone();
    let db = || async {
        context
            .database
            .connect(service)
            .await
            .with_context(|| format!("{name}: cannot open its database"))
    };
    let bus = context.bus.clone();
    let mesh = context.mesh_auth_of(service);
    let connect = |callee: Service| -> anyhow::Result<latchkey_server::MeshChannel> {
        Ok(latchkey_server::connect_to(
            callee.name(),
            context.urls.of(callee)?,
            &mesh,
        )?)
    };
    let stop = shutdown.clone();
    let outcome: futures_like::BoxedRun = match service {
        Service::AgentToken => {
            // Every token issue asks the account's policies (and fails closed without an answer).
            let policy = PolicyServiceClient::new(connect(Service::Policy)?);
            let vault = system_secrets(connect(Service::Vault)?);
            let service = latchkey_agent_token::AgentToken::open(db().await?, mesh.clone(), vault)
                .await?
                .with_policy(policy)
                .with_config(&context.settings.agent_token)?
                .with_public_url(&context.settings.public_url)
                .with_domains(&context.settings.domains)?
                .with_plans(context.settings.plans.clone());
            Box::pin(async move { service.run(listener, bus, stop).await.map_err(anyhow::Error::from) })
        }
        Service::Audit => {
            let service = latchkey_audit::Audit::open(db().await?, mesh.clone())
                .await?
                .with_vault(system_secrets(connect(Service::Vault)?))
                .with_config(&context.settings.audit);
            Box::pin(async move { service.run(listener, bus, stop).await.map_err(anyhow::Error::from) })
        }
        Service::Policy => {
            let agents = AgentTokenServiceClient::new(connect(Service::AgentToken)?);
            let service = latchkey_policy::Policy::open(db().await?, mesh.clone(), agents)
                .await?
                .with_config(&context.settings.policy)
                .with_plans(context.settings.plans.clone());
            Box::pin(async move { service.run(listener, bus, stop).await.map_err(anyhow::Error::from) })
        }
        Service::Vault => {
            let root_keys = context
                .vault_root_keys
                .clone()
                .context("the vault needs vault.root_key_file or vault.root_keys (LATCHKEY__VAULT__…)")?;
            let service = latchkey_vault::Vault::open(db().await?, root_keys, mesh.clone()).await?;
            Box::pin(async move { service.run(listener, bus, stop).await.map_err(anyhow::Error::from) })
        }
        Service::Oauth => {
            let vault =
                latchkey_proto::vault::v1::vault_service_client::VaultServiceClient::new(connect(Service::Vault)?);
            let service = latchkey_oauth::Oauth::open(db().await?, mesh.clone(), vault, context.settings.oauth.clone())
                .await?
                .with_plans(context.settings.plans.clone());
            Box::pin(async move { service.run(listener, bus, stop).await.map_err(anyhow::Error::from) })
        }
        Service::Webhook => {
            let vault =
                latchkey_proto::vault::v1::vault_service_client::VaultServiceClient::new(connect(Service::Vault)?);
            // The `verified_domain` flag of endpoints: agent-token's verified domains.
            let domains = latchkey_proto::agent_token::v1::domain_service_client::DomainServiceClient::new(connect(
                Service::AgentToken,
            )?);
            let service = latchkey_webhook::Webhook::open(db().await?, mesh.clone(), context.settings.webhook.clone())
                .await?
                .with_vault(vault)
                .with_domains(domains)
                .with_plans(context.settings.plans.clone());
            Box::pin(async move { service.run(listener, bus, stop).await.map_err(anyhow::Error::from) })
        }
        Service::Directory => {
            let service = latchkey_directory::Directory::open(db().await?, mesh.clone())
                .await?
                .with_plans(context.settings.plans.clone());
            Box::pin(async move { service.run(listener, bus, stop).await.map_err(anyhow::Error::from) })
        }
        Service::Gateway => {
            let mut gateway = Gateway::build(context.settings.gateway.clone(), gateway_deps(context, connect)?).await?;
            if let Some(address) = context.settings.gateway_metrics_listen {
                let metrics = TcpListener::bind(address)
                    .await
                    .with_context(|| format!("cannot listen on {address}"))?;
                gateway = gateway.with_metrics_listener(metrics);
            }
            let stop = stop.cancelled_owned();
            Box::pin(async move { gateway.serve(listener, stop).await.map_err(anyhow::Error::from) })
        }
    };
    tasks.spawn(name, async move {
        if let Err(error) = outcome.await {
            tracing::error!(
                service = name,
                error = format!("{error:#}"),
                "service stopped with an error"
            );
            shutdown.cancel();
        }
    });
    Ok(())
}

/// The vault client through which agent-token and audit seal and open their own keys (the vault may
/// start after them: they wait for it).
fn system_secrets(vault: latchkey_server::MeshChannel) -> latchkey_server::SystemSecrets {
    latchkey_server::SystemSecrets::new(latchkey_proto::vault::v1::vault_service_client::VaultServiceClient::new(vault))
}

mod futures_like {
    pub type BoxedRun = std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>>;
}

fn gateway_deps(
    context: &ServiceContext,
    channel: impl Fn(Service) -> anyhow::Result<latchkey_server::MeshChannel>,
) -> anyhow::Result<GatewayDeps> {
    let readiness = GRPC_SERVICES
        .iter()
        .map(|service| {
            Ok(latchkey_gateway::ReadinessCheck {
                service: grpc_name(*service).to_owned(),
                channel: channel(*service)?,
                // Without agent-token no request can be authenticated; without any other service
                // only its own routes fail (docs/operations.md, "Readiness").
                essential: *service == Service::AgentToken,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let agent_token = channel(Service::AgentToken)?;
    Ok(GatewayDeps {
        // Every service of agent-token on one connection.
        agent_token: AgentTokenServiceClient::new(agent_token.clone()),
        certificates: latchkey_proto::agent_token::v1::certificate_service_client::CertificateServiceClient::new(
            agent_token.clone(),
        ),
        domains: latchkey_proto::agent_token::v1::domain_service_client::DomainServiceClient::new(agent_token),
        audit: AuditServiceClient::new(channel(Service::Audit)?),
        policy: PolicyServiceClient::new(channel(Service::Policy)?),
        webhook: latchkey_proto::webhook::v1::webhook_service_client::WebhookServiceClient::new(channel(
            Service::Webhook,
        )?),
        oauth: latchkey_proto::oauth::v1::oauth_service_client::OauthServiceClient::new(channel(Service::Oauth)?),
        vault: latchkey_proto::vault::v1::vault_service_client::VaultServiceClient::new(channel(Service::Vault)?),
        directory: latchkey_proto::directory::v1::directory_service_client::DirectoryServiceClient::new(channel(
            Service::Directory,
        )?),
        bus: context.bus.clone(),
        readiness,
        public_url: context.settings.public_url.clone(),
        catalogue: std::sync::Arc::new(
            context
                .settings
                .oauth
                .catalogue()
                .map_err(|error| anyhow::anyhow!("oauth.catalogue_file: {error}"))?,
        ),
    })
}

/// The fully qualified gRPC service name health reports for `service`.
pub fn grpc_name(service: Service) -> &'static str {
    match service {
        Service::AgentToken => latchkey_agent_token::GRPC_SERVICE,
        Service::Audit => latchkey_audit::GRPC_SERVICE,
        Service::Policy => latchkey_policy::GRPC_SERVICE,
        Service::Vault => latchkey_vault::GRPC_SERVICE,
        Service::Oauth => latchkey_oauth::GRPC_SERVICE,
        Service::Webhook => latchkey_webhook::GRPC_SERVICE,
        Service::Directory => latchkey_directory::GRPC_SERVICE,
        Service::Gateway => "",
    }
}

/// A whole mesh running in this process.
pub struct RunningMesh {
    pub http_addr: SocketAddr,
    pub urls: MeshUrls,
    /// What the services were started with; more instances can be started from it.
    pub context: ServiceContext,
    pub shutdown: CancellationToken,
    tasks: Tasks,
}

impl RunningMesh {
    /// Starts every service on loopback ports, and the gateway on `http`.
    pub async fn start(
        database: DatabasePlan,
        bus: EventBus,
        mesh_auth: MeshAuth,
        vault_root_keys: latchkey_vault::RootKeySource,
        settings: ServiceSettings,
        http: TcpListener,
    ) -> anyhow::Result<Self> {
        let mut mesh =
            Self::start_services(database, bus, mesh_auth, vault_root_keys, settings, http.local_addr()?).await?;
        mesh.start_gateway(http).await?;
        Ok(mesh)
    }

    /// Starts the gRPC services only; [`start_gateway`](Self::start_gateway) opens the REST API
    /// (on `http_addr`) once whatever must exist before clients arrive has been set up.
    pub async fn start_services(
        database: DatabasePlan,
        bus: EventBus,
        mesh_auth: MeshAuth,
        vault_root_keys: latchkey_vault::RootKeySource,
        mut settings: ServiceSettings,
        http_addr: SocketAddr,
    ) -> anyhow::Result<Self> {
        settings.resolve_public_url(http_addr)?;
        // An in-process mesh (`latchkey dev`, the tests) delivers to receivers on this machine.
        settings.webhook.allow_loopback = true;
        settings.gateway.proxy_allow_loopback = true;
        let shutdown = CancellationToken::new();
        let mut listeners = Vec::new();
        let mut urls = MeshUrls::default();
        for service in GRPC_SERVICES {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            urls.0
                .insert(service.name(), format!("http://{}", listener.local_addr()?));
            listeners.push((service, listener));
        }
        let context = ServiceContext {
            database,
            bus,
            mesh_auth,
            urls: urls.clone(),
            vault_root_keys: Some(vault_root_keys),
            settings,
        };
        let tasks = service_tasks(shutdown.clone());
        for (service, listener) in listeners {
            start_service(service, listener, &context, &tasks).await?;
        }
        Ok(Self {
            http_addr,
            urls,
            context,
            shutdown,
            tasks,
        })
    }

    /// Starts the gateway on `http`.
    pub async fn start_gateway(&mut self, http: TcpListener) -> anyhow::Result<()> {
        start_service(Service::Gateway, http, &self.context, &self.tasks).await
    }

    /// Creates an account over the mesh; answers its id and first API key.
    pub async fn create_account(&self, name: &str) -> anyhow::Result<(String, String)> {
        create_account(self.urls.of(Service::AgentToken)?, &self.context.mesh_auth, name).await
    }

    /// Moves `account` to `plan` (see [`set_account_plan`]).
    pub async fn set_account_plan(&self, account: &str, plan: &str) -> anyhow::Result<PlanMoved> {
        set_account_plan(
            self.urls.of(Service::AgentToken)?,
            &self.context.mesh_auth,
            account,
            plan,
        )
        .await
    }

    /// Stops every service and waits for them to drain.
    pub async fn stop(self) {
        self.tasks.shutdown().await;
    }
}

/// Creates an account through agent-token at `url`, with the mesh credential; answers the account
/// id and its first API key (shown this once).
pub async fn create_account(url: &str, auth: &MeshAuth, name: &str) -> anyhow::Result<(String, String)> {
    let channel = latchkey_server::connect_to(Service::AgentToken.name(), url, auth)?;
    let response = AgentTokenServiceClient::new(channel)
        .create_account(CreateAccountRequest {
            name: name.to_owned(),
            key_name: "bootstrap".to_owned(),
        })
        .await
        .with_context(|| format!("cannot create account {name}"))?
        .into_inner();
    let key = response
        .api_key
        .map(|created| created.secret)
        .context("the account came without a key")?;
    Ok((response.account_id, key))
}

/// What `latchkey account plan` did: the plan the account was on, and the event it caused
/// (`billing.plan_upgraded`, `billing.plan_changed`, or none when it was already on the plan).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanMoved {
    pub from_plan: String,
    pub event_type: Option<String>,
}

/// Moves `account` to `plan` through agent-token at `url`, with the mesh credential. An unknown
/// plan or account is an error naming it.
pub async fn set_account_plan(url: &str, auth: &MeshAuth, account: &str, plan: &str) -> anyhow::Result<PlanMoved> {
    use latchkey_proto::agent_token::v1::SetAccountPlanRequest;
    let channel = latchkey_server::connect_to(Service::AgentToken.name(), url, auth)?;
    let response = AgentTokenServiceClient::new(channel)
        .set_account_plan(latchkey_server::with_account(
            SetAccountPlanRequest {
                account_id: account.to_owned(),
                plan: plan.to_owned(),
            },
            account,
            Some("cli"),
        ))
        .await
        .map_err(|status| anyhow::anyhow!("cannot move {account} to plan {plan}: {}", status.message()))?
        .into_inner();
    Ok(PlanMoved {
        from_plan: response.from_plan,
        event_type: Some(response.event_type).filter(|event| !event.is_empty()),
    })
}

/// Asks agent-token (at `mesh.agent_token_url`) to rotate its signing key; answers the new kid.
pub async fn rotate_signing_key(
    settings: &crate::settings::Settings,
    publish_lead_secs: i64,
) -> anyhow::Result<String> {
    use latchkey_proto::agent_token::v1::RotateSigningKeyRequest;
    let urls = mesh_urls(settings);
    let auth = settings.mesh.operator_auth()?;
    let channel = latchkey_server::connect_to(Service::AgentToken.name(), urls.of(Service::AgentToken)?, &auth)?;
    let response = AgentTokenServiceClient::new(channel)
        .rotate_signing_key(RotateSigningKeyRequest { publish_lead_secs })
        .await
        .context("cannot rotate the signing key")?
        .into_inner();
    Ok(response.kid)
}
