//! The vault service: every account's secrets (provider API keys, OAuth client secrets, OAuth token
//! sets), envelope-encrypted with AES-256-GCM. Versioned root keys (configuration or a key file)
//! wrap one data key per account; the data key seals each secret with a fresh nonce and an AAD that
//! binds it to its account, id and version (see [`envelope`]). Plaintext crosses only the
//! mesh-internal gRPC API, lives in zeroizing buffers, and never reaches a log, error or trace.
//! Writes to provider credentials announce `credential.updated` through the outbox.

mod data_keys;
pub mod envelope;
mod error;
mod grpc;
pub mod keys;
mod rotate;
mod secrets;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
    time::SystemTime,
};

use latchkey_events::{EventBus, Outbox};
use latchkey_ids::AccountId;
use latchkey_proto::vault::v1::vault_service_server::VaultServiceServer;
use latchkey_server::{MeshAuth, ServiceRun};
use latchkey_storage::{Db, Migration, migrations};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use error::VaultError;
pub use keys::{Keyring, RootKeySource, add_key_version, create_key_file};
pub use rotate::{RotationReport, rotate};
pub use secrets::{MAX_SECRET_BYTES, NewSecret, SecretMetadata, SecretValue};

/// The `source` of every event this service emits.
pub const EVENT_SOURCE: &str = "/latchkey/vault";
/// The fully qualified gRPC service name, as health reports it.
pub const GRPC_SERVICE: &str = "latchkey.vault.v1.VaultService";

const MIGRATIONS: &[Migration] = migrations![(1, "0001_vault")];

/// The service's state. Cheap to clone: clones share the keyring and the data-key cache.
#[derive(Clone, Debug)]
pub struct Vault {
    db: Db,
    outbox: Outbox,
    mesh: MeshAuth,
    keys: Arc<KeyState>,
}

/// The root keys as last loaded, where they come from, and the unwrapped data keys of recently
/// used accounts (unwrapping costs a root-key AES setup; sealing with a cached key does not).
#[derive(Debug)]
struct KeyState {
    source: RootKeySource,
    keyring: RwLock<Arc<Keyring>>,
    loaded_from: Mutex<Option<SystemTime>>,
    data_keys: Mutex<HashMap<AccountId, Arc<envelope::DataKey>>>,
}

/// Brings `db` to this build's schema: the service's migrations, then the outbox's, each under the
/// migration lock, so replicas and `latchkey migrate vault` may run it at the same time. What
/// [`Vault::open`] does first; answers the outbox it opened.
pub async fn migrate(db: &Db) -> Result<Outbox, VaultError> {
    db.migrate("vault", MIGRATIONS).await?;
    Ok(Outbox::open(db.clone(), EVENT_SOURCE).await?)
}

impl Vault {
    /// Opens the vault on `db` with the root keys of `source`, applying its migrations. Fails when
    /// no root key can be loaded.
    pub async fn open(db: Db, root_keys: RootKeySource, mesh: MeshAuth) -> Result<Self, VaultError> {
        let loaded_from = root_keys.modified();
        let keyring = root_keys.load()?;
        let outbox = migrate(&db).await?;
        Ok(Self {
            db,
            outbox,
            mesh,
            keys: Arc::new(KeyState {
                source: root_keys,
                keyring: RwLock::new(Arc::new(keyring)),
                loaded_from: Mutex::new(loaded_from),
                data_keys: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Serves gRPC on `listener` and relays the outbox to `bus` until `shutdown` is cancelled.
    pub async fn run(
        self,
        listener: TcpListener,
        bus: EventBus,
        shutdown: CancellationToken,
    ) -> Result<(), VaultError> {
        let run = ServiceRun::start("vault", &self.mesh, shutdown).depends_on(&self.db, &bus);
        run.relay_outbox(self.outbox.clone(), bus);
        let routes = tonic::service::Routes::new(VaultServiceServer::new(grpc::GrpcApi::new(self)));
        Ok(run.serve(listener, routes, &[GRPC_SERVICE]).await?)
    }

    /// The root key versions this instance holds.
    pub fn root_versions(&self) -> Vec<u32> {
        self.keyring().versions()
    }

    fn keyring(&self) -> Arc<Keyring> {
        Arc::clone(
            &self
                .keys
                .keyring
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// Re-reads the root keys when their source changed since the last load (a key file that
    /// `latchkey vault rotate` extended). Answers the keyring to use either way.
    fn refreshed_keyring(&self) -> Result<Arc<Keyring>, VaultError> {
        let modified = self.keys.source.modified();
        {
            let loaded_from = self
                .keys
                .loaded_from
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if modified.is_none() || *loaded_from == modified {
                return Ok(self.keyring());
            }
        }
        let keyring = Arc::new(self.keys.source.load()?);
        *self
            .keys
            .keyring
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::clone(&keyring);
        *self
            .keys
            .loaded_from
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = modified;
        tracing::info!(versions = ?keyring.versions(), "vault root keys reloaded");
        Ok(keyring)
    }
}
