//! The audit service: every domain event, appended to its account's SHA-256 hash chain by a durable
//! consumer, and served back over gRPC for queries and verification. See `docs/audit.md` for the
//! chain's exact algorithm.

mod chain;
mod error;
mod grpc;
mod store;

use latchkey_events::{EventBus, EventFilter};
use latchkey_proto::audit::v1::audit_service_server::AuditServiceServer;
use latchkey_server::MeshAuth;
use latchkey_storage::{Db, Migration, migrations};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use chain::{ChainEntry, GENESIS_HASH, Verification, entry_hash, verify_entries};
pub use error::AuditError;
pub use store::{EntryQuery, Order};

/// The fully qualified gRPC service name, as health reports it.
pub const GRPC_SERVICE: &str = "latchkey.audit.v1.AuditService";
/// The durable consumer's name on the bus.
pub const CONSUMER: &str = "audit";

const MIGRATIONS: &[Migration] = migrations![(1, "0001_audit_entries")];

/// The service's state. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Audit {
    db: Db,
    mesh: MeshAuth,
}

impl Audit {
    pub async fn open(db: Db, mesh: MeshAuth) -> Result<Self, AuditError> {
        db.migrate("audit", MIGRATIONS).await?;
        Ok(Self { db, mesh })
    }

    /// Consumes every event from `bus` into the chains, and serves gRPC on `listener`, until
    /// `shutdown` is cancelled.
    pub async fn run(
        self,
        listener: TcpListener,
        bus: EventBus,
        shutdown: CancellationToken,
    ) -> Result<(), AuditError> {
        let consumer = tokio::spawn(self.clone().consume(bus, shutdown.clone()));
        let routes = tonic::service::Routes::new(AuditServiceServer::new(grpc::GrpcApi::new(self)));
        let served =
            latchkey_server::serve_grpc(listener, routes, &[GRPC_SERVICE], shutdown.clone().cancelled_owned()).await;
        shutdown.cancel();
        let _ = consumer.await;
        served.map_err(AuditError::from)
    }

    /// Runs only the consumer (no gRPC) until `shutdown` is cancelled.
    pub async fn consume(self, bus: EventBus, shutdown: CancellationToken) {
        let audit = self;
        latchkey_events::run_consumer(
            bus,
            CONSUMER.to_owned(),
            EventFilter::all(),
            move |envelope| {
                let audit = audit.clone();
                async move { audit.append(&envelope).await.map(|_| ()) }
            },
            shutdown.cancelled_owned(),
        )
        .await;
    }
}
