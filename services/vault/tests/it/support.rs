//! A vault on a fresh database, its root key file, and a gRPC server for the tests that need one.

use std::path::PathBuf;

use latchkey_events::EventBus;
use latchkey_ids::AccountId;
use latchkey_proto::vault::v1::vault_service_client::VaultServiceClient;
use latchkey_server::{MeshAuth, MeshChannel};
use latchkey_storage::{Backend, Db};
use latchkey_test_support::{
    TestDatabase,
    mesh::{channel, loopback_listener},
};
use latchkey_vault::{NewSecret, RootKeySource, Vault};
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

pub const MESH_TOKEN: &str = "vault-test-service-token";

/// A vault on its own database with a key file in its own directory.
pub struct TestVault {
    pub vault: Vault,
    pub db: Db,
    pub key_file: PathBuf,
    pub database: TestDatabase,
    _dir: tempfile::TempDir,
}

impl TestVault {
    pub async fn open(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let key_file = dir.path().join("vault-root.key");
        latchkey_vault::create_key_file(&key_file).expect("create the key file");
        let database = TestDatabase::new(backend).await;
        let db = Db::connect(database.url()).await.expect("open the database");
        let vault = Vault::open(
            db.clone(),
            RootKeySource::File(key_file.clone()),
            MeshAuth::new(MESH_TOKEN),
        )
        .await
        .expect("open the vault");
        Self {
            vault,
            db,
            key_file,
            database,
            _dir: dir,
        }
    }

    pub fn source(&self) -> RootKeySource {
        RootKeySource::File(self.key_file.clone())
    }

    /// Another vault instance on the same database and key file (a second process, a restart).
    pub async fn another_instance(&self) -> Vault {
        let db = Db::connect(self.database.url()).await.expect("open the database");
        Vault::open(db, self.source(), MeshAuth::new(MESH_TOKEN))
            .await
            .expect("open another vault")
    }

    /// Serves this vault over gRPC on a free port; answers a client and the token that stops it.
    pub async fn serve(&self) -> (VaultServiceClient<MeshChannel>, CancellationToken) {
        let (listener, url) = loopback_listener().await;
        let bus = EventBus::local(self.db.clone()).await.expect("local bus");
        let stop = CancellationToken::new();
        tokio::spawn(self.vault.clone().run(listener, bus, stop.clone()));
        (VaultServiceClient::new(channel(&url, &MeshAuth::new(MESH_TOKEN))), stop)
    }
}

pub fn secret(secret_id: &str, plaintext: &str) -> NewSecret {
    NewSecret {
        secret_id: secret_id.to_owned(),
        plaintext: Zeroizing::new(plaintext.as_bytes().to_vec()),
        write_only: false,
        expected_version: None,
    }
}

/// The account `text` names, as the vault's own functions take it.
pub fn account_id(text: &str) -> AccountId {
    AccountId::parse(text).expect("an account id")
}
