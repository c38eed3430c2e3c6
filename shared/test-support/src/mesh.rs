//! What a service's suite and the mesh harness share: a listener on a free loopback port, the mesh
//! clients and request metadata a service is called with the way the gateway calls it, and a vault
//! of the test's own (agent-token, audit and oauth keep their keys in one).

use latchkey_events::EventBus;
use latchkey_proto::vault::v1::vault_service_client::VaultServiceClient;
use latchkey_server::{MeshAuth, MeshChannel, SystemSecrets};
use latchkey_storage::Db;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::TestDatabase;

/// A listener on a free loopback port (port 0) and its `http://` URL, for a service to serve on.
pub async fn loopback_listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("the listener's address"));
    (listener, url)
}

/// A mesh channel to the service at `url`, authenticated with `mesh`; it connects on first use.
pub fn channel(url: &str, mesh: &MeshAuth) -> MeshChannel {
    latchkey_server::connect(url, mesh).expect("a service address")
}

/// A mesh request acting in `account`, as the gateway sends it for an API key of that account.
pub fn as_account<T>(account: &str, message: T) -> tonic::Request<T> {
    latchkey_server::with_account(message, account, Some("test"))
}

/// A fresh random vault root key (version 1).
pub fn vault_root_keys() -> latchkey_vault::RootKeySource {
    use base64::Engine;
    let mut key = [0u8; 32];
    rand::RngExt::fill(&mut rand::rng(), &mut key);
    let encoded = base64::engine::general_purpose::STANDARD.encode(key);
    latchkey_vault::RootKeySource::Inline(format!("1:{encoded}").into())
}

/// A vault client at `url`, for the system account's secrets (the services' own keys).
pub fn vault_client(url: &str, mesh: &MeshAuth) -> SystemSecrets {
    SystemSecrets::new(VaultServiceClient::new(channel(url, mesh)))
}

/// A vault of the test's own on loopback (SQLite, a fresh root key), served until `shutdown`.
pub struct TestVault {
    pub url: String,
    _database: TestDatabase,
}

impl TestVault {
    pub async fn start(mesh: &MeshAuth, shutdown: &CancellationToken) -> Self {
        let database = TestDatabase::sqlite();
        let db = Db::connect(database.url()).await.expect("open the vault database");
        let vault = latchkey_vault::Vault::open(db, vault_root_keys(), mesh.clone())
            .await
            .expect("open the vault");
        let (listener, url) = loopback_listener().await;
        // Its events (none, for the system account's secrets) go to a bus in the same file.
        let bus = EventBus::local(Db::connect(database.url()).await.expect("bus database"))
            .await
            .expect("local bus");
        tokio::spawn(vault.run(listener, bus, shutdown.clone()));
        Self {
            url,
            _database: database,
        }
    }

    /// A client for the system account's secrets.
    pub fn system_secrets(&self, mesh: &MeshAuth) -> SystemSecrets {
        vault_client(&self.url, mesh)
    }

    /// A client of the whole vault API.
    pub fn client(&self, mesh: &MeshAuth) -> VaultServiceClient<MeshChannel> {
        VaultServiceClient::new(channel(&self.url, mesh))
    }
}

/// Verifies an agent token as any relying service would: with an independent JWT library, keys
/// from the JWKS alone, EdDSA pinned, Latchkey's issuer and `audience` required. Answers its
/// claims; panics when it does not verify.
pub fn verify_offline(jwks: &jsonwebtoken::jwk::JwkSet, token: &str, audience: &str) -> serde_json::Value {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let header = jsonwebtoken::decode_header(token).expect("a JWS header");
    assert_eq!(header.alg, Algorithm::EdDSA);
    let kid = header.kid.expect("tokens name their key");
    let jwk = jwks.find(&kid).expect("the key is published");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&[audience]);
    validation.set_issuer(&["latchkey"]);
    let key = DecodingKey::from_jwk(jwk).expect("an Ed25519 JWK");
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
        .expect("the token verifies")
        .claims
}
