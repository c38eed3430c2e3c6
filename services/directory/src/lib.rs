//! The directory service: AuthOS's model of an account's organizations, their services, and each
//! service's API keys, users and subscriptions (docs/directory.md). A service API key acts for
//! its one service: the gateway takes the service from the key that authenticated a request, and
//! every query of the service API names the account and that service, so nothing of another
//! service (or account) can be read, changed or learnt of through it.

mod error;
mod grpc;
mod keys;
mod organizations;
mod provider_tokens;
mod services;
mod subscriptions;
mod users;
mod validate;

use latchkey_events::{DomainEvent, Envelope, EventBus, Outbox};
use latchkey_ids::AccountId;
use latchkey_proto::directory::v1::directory_service_server::DirectoryServiceServer;
use latchkey_server::{MeshAuth, Plans, ServiceRun};
use latchkey_storage::{
    Db, Migration, migrations,
    sqlx::{Any, Transaction},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use error::DirectoryError;
pub use keys::{CreatedServiceKey, KeyPrincipal, Permission, ServiceKey};
pub use organizations::Organization;
pub use services::{Service, ServiceAt, ServiceFields};
pub use subscriptions::{Subscription, SubscriptionChange, SubscriptionStatus};
pub use users::{Page, User, UserChange};
pub use validate::{is_plan_id, is_slug};

/// The `source` of every event this service emits.
pub const EVENT_SOURCE: &str = "/latchkey/directory";
/// The fully qualified gRPC service name, as health reports it.
pub const GRPC_SERVICE: &str = "latchkey.directory.v1.DirectoryService";

const MIGRATIONS: &[Migration] = migrations![(1, "0001_directory")];

/// The service's state. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Directory {
    db: Db,
    outbox: Outbox,
    mesh: MeshAuth,
    /// The deployment's plans: the limit on service users.
    plans: Plans,
}

/// Brings `db` to this build's schema: the service's migrations, then the outbox's, each under the
/// migration lock, so replicas and `latchkey migrate directory` may run it at the same time. What
/// [`Directory::open`] does first; answers the outbox it opened.
pub async fn migrate(db: &Db) -> Result<Outbox, DirectoryError> {
    db.migrate("directory", MIGRATIONS).await?;
    Ok(Outbox::open(db.clone(), EVENT_SOURCE).await?)
}

impl Directory {
    /// Opens the service on `db`, applying its migrations.
    pub async fn open(db: Db, mesh: MeshAuth) -> Result<Self, DirectoryError> {
        let outbox = migrate(&db).await?;
        Ok(Self {
            db,
            outbox,
            mesh,
            plans: Plans::default(),
        })
    }

    /// Sets the deployment's plans (the default: one unlimited plan).
    #[must_use]
    pub fn with_plans(mut self, plans: Plans) -> Self {
        self.plans = plans;
        self
    }

    /// Serves gRPC on `listener` and relays the outbox to `bus`, until `shutdown` is cancelled.
    pub async fn run(
        self,
        listener: TcpListener,
        bus: EventBus,
        shutdown: CancellationToken,
    ) -> Result<(), DirectoryError> {
        let run = ServiceRun::start("directory", &self.mesh, shutdown).depends_on(&self.db, &bus);
        run.relay_outbox(self.outbox.clone(), bus);
        let routes = tonic::service::Routes::new(DirectoryServiceServer::new(grpc::GrpcApi::new(self)));
        Ok(run.serve(listener, routes, &[GRPC_SERVICE]).await?)
    }

    /// Writes `event` of `account` into the outbox in `tx`: it is published once `tx` commits, and
    /// never if it does not.
    async fn announce<E: DomainEvent>(
        &self,
        tx: &mut Transaction<'static, Any>,
        account: &AccountId,
        actor: Option<&str>,
        event: &E,
    ) -> Result<(), DirectoryError> {
        let envelope = Envelope::new(EVENT_SOURCE, account.as_str(), actor, event);
        Ok(self.outbox.enqueue(tx, &envelope).await?)
    }

    /// The outbox this service's events go through.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }
}
