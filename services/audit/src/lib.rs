//! The audit service: every domain event, appended to its account's SHA-256 hash chain by a durable
//! consumer, served back over gRPC for queries, streamed exports, verification and analytics, with
//! periodically signed checkpoints of every chain's head. See `docs/audit.md` for the chain's exact
//! algorithm.
//!
//! [`chain`] and [`checkpoint`] need no database: the offline verifier of `latchkey audit verify`
//! uses them as they are.

pub mod chain;
pub mod checkpoint;
mod checkpointing;
mod config;
mod consumer;
mod error;
pub mod export;
mod grpc;
mod store;

use std::{
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use latchkey_events::EventBus;
use latchkey_proto::audit::v1::audit_service_server::AuditServiceServer;
use latchkey_server::{MeshAuth, ServiceRun, SystemSecrets};
use latchkey_storage::{Db, Migration, migrations};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use chain::{
    ChainEntry, ChainVerifier, EntryFields, GENESIS_HASH, Link, Verification, entry_hash, links_of, verify_entries,
};
pub use checkpoint::{Checkpoint, CheckpointError, CheckpointKey};
pub use config::AuditConfig;
pub use error::AuditError;
pub use export::{ExportError, ExportVerifier, Position as ExportPosition, verify_json_export, verify_json_stream};
pub use store::{DailyCount, EntryQuery, Order, StoredEntry, TypeFilter};

/// The fully qualified gRPC service name, as health reports it.
pub const GRPC_SERVICE: &str = "latchkey.audit.v1.AuditService";
/// The durable consumer's name on the bus.
pub const CONSUMER: &str = "audit";
/// How long the consuming replica's hold on the stream lasts without renewal (`consumer`).
pub const CONSUMER_LEASE: Duration = Duration::from_secs(15);
/// The most events the consumer appends in one transaction. 500 reaches the append target with
/// margin (see docs/benchmarks.md) while a batch stays a short transaction.
pub const CONSUMER_BATCH: usize = 500;
/// How often chains that moved get a signed checkpoint, unless configured otherwise.
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);
/// Entries an export reads per query.
pub const DEFAULT_EXPORT_PAGE_SIZE: u32 = 1000;

const MIGRATIONS: &[Migration] = migrations![
    (1, "0001_audit_entries"),
    (2, "0002_checkpoints"),
    (3, "0003_sealed_checkpoint_keys"),
    (4, "0004_entry_service"),
];

/// The service's state. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Audit {
    db: Db,
    mesh: MeshAuth,
    /// Where the checkpoint keys are sealed. Without one (this crate's own tests and benchmarks,
    /// which sign nothing) no key is ever opened and no checkpoint signed: never a plaintext key.
    vault: Option<SystemSecrets>,
    /// Checkpoint keys, newest (the signer) first; empty until opened from the vault.
    keys: Arc<RwLock<Arc<Vec<CheckpointKey>>>>,
    checkpoint_interval: Duration,
    export_page_size: u32,
    /// Pages read by exports and verifications since start: shows they page.
    pages_read: Arc<AtomicU64>,
}

/// Brings `db` to this build's schema under the migration lock, so replicas and
/// `latchkey migrate audit` may run it at the same time. What [`Audit::open`] does first.
pub async fn migrate(db: &Db) -> Result<(), AuditError> {
    db.migrate("audit", MIGRATIONS).await?;
    Ok(())
}

impl Audit {
    /// Opens the service on `db`, applying its migrations. The checkpoint keys are opened later,
    /// from the vault given with [`with_vault`](Self::with_vault).
    pub async fn open(db: Db, mesh: MeshAuth) -> Result<Self, AuditError> {
        migrate(&db).await?;
        Ok(Self {
            db,
            mesh,
            vault: None,
            keys: Arc::default(),
            checkpoint_interval: DEFAULT_CHECKPOINT_INTERVAL,
            export_page_size: DEFAULT_EXPORT_PAGE_SIZE,
            pages_read: Arc::default(),
        })
    }

    /// Seals the checkpoint keys in `vault` (required to [`run`](Self::run)).
    pub fn with_vault(mut self, vault: SystemSecrets) -> Self {
        self.vault = Some(vault);
        self
    }

    /// Signs moved chain heads every `interval` instead of every minute.
    pub fn with_checkpoint_interval(mut self, interval: Duration) -> Self {
        self.checkpoint_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Applies the service's settings.
    pub fn with_config(self, config: &AuditConfig) -> Self {
        self.with_checkpoint_interval(Duration::from_secs(config.checkpoint_interval_secs))
    }

    /// Reads exports `entries` at a time instead of 1000.
    pub fn with_export_page_size(mut self, entries: u32) -> Self {
        self.export_page_size = entries.clamp(1, 1000);
        self
    }

    /// Pages exports and verifications have read from storage since start.
    pub fn pages_read(&self) -> u64 {
        self.pages_read.load(Ordering::Relaxed)
    }

    /// Consumes every event from `bus` into the chains throughout; opens the checkpoint keys from
    /// the vault, then signs checkpoints and serves gRPC on `listener`; until `shutdown` is
    /// cancelled. The vault may come up after this service (`latchkey dev` starts it later; in the
    /// mesh it is a process of its own): until it answers, nothing is served and the wait is
    /// logged; a shutdown ends the wait. Without a vault ([`with_vault`](Self::with_vault)) it
    /// refuses to start.
    pub async fn run(
        self,
        listener: TcpListener,
        bus: EventBus,
        shutdown: CancellationToken,
    ) -> Result<(), AuditError> {
        if self.vault.is_none() {
            return Err(AuditError::NoVault);
        }
        let run = ServiceRun::start("audit", &self.mesh, shutdown.clone()).depends_on(&self.db, &bus);
        run.tasks()
            .spawn("consumer", self.clone().consume(bus, shutdown.clone()));
        let opened = run.once_vault_answers("audit checkpoint keys", AuditError::is_vault_unavailable, || {
            self.open_checkpoint_keys()
        });
        let Some(run) = opened.await? else {
            // Stopped before the vault answered.
            return Ok(());
        };
        run.tasks()
            .spawn("checkpoints", self.clone().sign_checkpoints_periodically(shutdown));
        let routes = tonic::service::Routes::new(AuditServiceServer::new(grpc::GrpcApi::new(self)));
        Ok(run.serve(listener, routes, &[GRPC_SERVICE]).await?)
    }

    /// Signs the heads of moved chains every checkpoint interval until `shutdown` is cancelled.
    pub async fn sign_checkpoints_periodically(self, shutdown: CancellationToken) {
        // The first pass comes one interval after start, like every later one.
        let mut ticks = tokio::time::interval_at(
            tokio::time::Instant::now() + self.checkpoint_interval,
            self.checkpoint_interval,
        );
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            match self.take_checkpoints().await {
                Ok(0) => {}
                Ok(signed) => tracing::debug!(signed, "signed audit checkpoints"),
                Err(error) => tracing::warn!(error = %error, "could not sign audit checkpoints"),
            }
        }
    }
}
