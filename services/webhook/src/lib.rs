//! The webhook service: an account's webhook endpoints, and delivery of every domain event they
//! subscribe to, signed as the Standard Webhooks specification says, at least once.
//!
//! Delivery is two steps, each durable. The durable consumer `webhook` writes one message per
//! (endpoint, event) — idempotent on the event id — and acks the event only once they are
//! committed. The delivery worker then claims due messages from the table under a lease, sends
//! them, records every attempt and schedules retries. A restart at any point loses nothing, and a
//! message keeps its webhook-id and exact body across every retry. See `docs/webhooks.md`.

mod config;
mod delivery;
mod endpoints;
mod error;
mod fanout;
mod grpc;
mod messages;
mod patterns;
mod secrets;
pub mod signing;
mod verified_domains;

use std::sync::Arc;

use latchkey_events::{EventBus, EventFilter, Outbox};
use latchkey_proto::webhook::v1::webhook_service_server::WebhookServiceServer;
use latchkey_server::{MeshAuth, ServiceRun};
use latchkey_storage::{Db, Migration, migrations};
use tokio::{net::TcpListener, sync::Notify};
use tokio_util::sync::CancellationToken;

pub use config::WebhookConfig;
pub use endpoints::{CreatedEndpoint, Endpoint, EndpointInput};
pub use error::WebhookError;
pub use messages::{Attempt, AttemptPage, Message};

/// The `source` of every event this service emits.
pub const EVENT_SOURCE: &str = "/latchkey/webhook";
/// The fully qualified gRPC service name, as health reports it.
pub const GRPC_SERVICE: &str = "latchkey.webhook.v1.WebhookService";
/// The durable consumer's name on the bus.
pub const CONSUMER: &str = "webhook";
/// The type of the message `SendTest` queues. Not a domain event: it never travels on the bus.
pub const TEST_EVENT_TYPE: &str = "webhook.test";

const MIGRATIONS: &[Migration] = migrations![
    (1, "0001_webhooks"),
    (2, "0002_sealed_secrets"),
    (3, "0003_time_ordered_lists"),
];

/// The service's state. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Webhook {
    db: Db,
    outbox: Outbox,
    mesh: MeshAuth,
    config: Arc<WebhookConfig>,
    client: reqwest::Client,
    /// Where signing secrets are kept: the vault, or this service's table.
    secrets: secrets::SecretStore,
    /// Wakes the delivery worker when messages were queued, so it need not wait for its next poll.
    queued: Arc<Notify>,
    /// Agent-token's verified domains, for the `verified_domain` flag of endpoints; none: unflagged.
    domains: Option<verified_domains::DomainClient>,
    /// The deployment's plans: the limit on endpoints.
    plans: latchkey_server::Plans,
}

/// Brings `db` to this build's schema: the service's migrations, then the outbox's, each under the
/// migration lock, so replicas and `latchkey migrate webhook` may run it at the same time. What
/// [`Webhook::open`] does first; answers the outbox it opened.
pub async fn migrate(db: &Db) -> Result<Outbox, WebhookError> {
    db.migrate("webhook", MIGRATIONS).await?;
    Ok(Outbox::open(db.clone(), EVENT_SOURCE).await?)
}

impl Webhook {
    /// Opens the service on `db`, applying its migrations.
    pub async fn open(db: Db, mesh: MeshAuth, config: WebhookConfig) -> Result<Self, WebhookError> {
        let outbox = migrate(&db).await?;
        let client = delivery::client(&config).map_err(|error| WebhookError::Client(error.to_string()))?;
        Ok(Self {
            db,
            outbox,
            mesh,
            config: Arc::new(config),
            client,
            secrets: secrets::SecretStore::default(),
            queued: Arc::new(Notify::new()),
            domains: None,
            plans: latchkey_server::Plans::default(),
        })
    }

    /// Sets the deployment's plans (the default: one unlimited plan).
    #[must_use]
    pub fn with_plans(mut self, plans: latchkey_server::Plans) -> Self {
        self.plans = plans;
        self
    }

    /// Flags the endpoints on a domain the account verified (`verified_domain`), asking
    /// agent-token's `DomainService`.
    pub fn with_domains(
        mut self,
        domains: latchkey_proto::agent_token::v1::domain_service_client::DomainServiceClient<
            latchkey_server::MeshChannel,
        >,
    ) -> Self {
        self.domains = Some(domains);
        self
    }

    /// Seals endpoints' signing secrets in the vault from now on (endpoints registered before keep
    /// theirs in this service's table until their next rotation).
    pub fn with_vault(
        mut self,
        vault: latchkey_proto::vault::v1::vault_service_client::VaultServiceClient<latchkey_server::MeshChannel>,
    ) -> Self {
        self.secrets = secrets::SecretStore::with_vault(vault);
        self
    }

    /// Serves gRPC on `listener`, consumes every event from `bus` into messages, delivers them and
    /// relays the outbox, until `shutdown` is cancelled.
    pub async fn run(
        self,
        listener: TcpListener,
        bus: EventBus,
        shutdown: CancellationToken,
    ) -> Result<(), WebhookError> {
        let run = ServiceRun::start("webhook", &self.mesh, shutdown.clone()).depends_on(&self.db, &bus);
        run.relay_outbox(self.outbox.clone(), bus.clone());
        run.tasks()
            .spawn("consumer", self.clone().consume(bus, shutdown.clone()));
        run.tasks()
            .spawn("queue-depth", self.clone().sample_queue_depth(shutdown.clone()));
        run.tasks().spawn("delivery", self.clone().deliver(shutdown));
        let routes = tonic::service::Routes::new(WebhookServiceServer::new(grpc::GrpcApi::new(self)));
        Ok(run.serve(listener, routes, &[GRPC_SERVICE]).await?)
    }

    /// Sets `latchkey_webhook_queue_depth` (messages waiting for delivery, due or not) every five
    /// seconds until `shutdown` is cancelled.
    async fn sample_queue_depth(self, shutdown: CancellationToken) {
        loop {
            if let Ok(depth) = self.backlog().await {
                metrics::gauge!("latchkey_webhook_queue_depth").set(depth as f64);
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
            }
        }
    }

    /// Runs only the consumer until `shutdown` is cancelled: every event becomes a message for each
    /// active endpoint of its account that subscribes to its type, a batch of events at a time.
    pub async fn consume(self, bus: EventBus, shutdown: CancellationToken) {
        let service = self;
        latchkey_events::run_batch_consumer(
            bus,
            CONSUMER.to_owned(),
            EventFilter::all(),
            fanout::CONSUMER_BATCH,
            move |events| {
                let service = service.clone();
                async move { service.accept_all(&events).await.map(|_| ()) }
            },
            shutdown.cancelled_owned(),
        )
        .await;
    }

    /// Runs only the delivery worker until `shutdown` is cancelled.
    pub async fn deliver(self, shutdown: CancellationToken) {
        delivery::run(self, shutdown).await;
    }

    /// The outbox this service's own events (`endpoint.*`) go through.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }
}
