//! The oauth service on loopback: configured with GitHub's client credentials only, or as a suite
//! asks (a real OpenID Connect provider's, say).

use latchkey_oauth::{ClientCredentials, Oauth, OauthConfig};
use latchkey_proto::oauth::v1::{Connection, ListConnectionsRequest, oauth_service_client::OauthServiceClient};
use latchkey_server::{MeshAuth, MeshChannel};
use latchkey_storage::{Backend, Db};
use latchkey_test_support::{
    BusKind, TestBus, TestDatabase,
    mesh::{TestVault, as_account, channel, loopback_listener},
};
use tokio_util::sync::{CancellationToken, DropGuard};

pub const MESH_TOKEN: &str = "oauth-test-service-token";
pub const GITHUB_CLIENT_ID: &str = "github-test-client";

/// A running oauth service; it stops on drop.
pub struct TestOauth {
    pub client: OauthServiceClient<MeshChannel>,
    /// The service's own database, for tests that check what was (not) written.
    pub database: TestDatabase,
    /// The vault the service keeps tokens and app secrets in.
    pub vault: TestVault,
    /// Stops every task of the test on drop.
    _shutdown: DropGuard,
    _bus: TestBus,
}

impl TestOauth {
    pub async fn start(backend: Backend) -> Self {
        let config = OauthConfig {
            callback_url: "https://latchkey.example/oauth/callback".to_owned(),
            clients: [(
                "github".to_owned(),
                ClientCredentials {
                    client_id: GITHUB_CLIENT_ID.to_owned(),
                    client_secret: "github-test-secret-9d1e".to_owned(),
                },
            )]
            .into(),
            ..OauthConfig::default()
        };
        Self::start_with(backend, config).await
    }

    pub async fn start_with(backend: Backend, config: OauthConfig) -> Self {
        let mesh = MeshAuth::new(MESH_TOKEN);
        let shutdown = CancellationToken::new();
        let vault = TestVault::start(&mesh, &shutdown).await;
        let database = TestDatabase::new(backend).await;
        let bus = TestBus::new(BusKind::Local).await;
        let oauth = Oauth::open(
            Db::connect(database.url()).await.expect("open the oauth database"),
            mesh.clone(),
            vault.client(&mesh),
            config,
        )
        .await
        .expect("open the oauth service");
        let (listener, url) = loopback_listener().await;
        tokio::spawn(oauth.run(listener, bus.bus.clone(), shutdown.clone()));
        Self {
            client: OauthServiceClient::new(channel(&url, &mesh)),
            database,
            vault,
            _shutdown: shutdown.drop_guard(),
            _bus: bus,
        }
    }

    /// Every connection `account` has, as `ListConnections` answers it.
    pub async fn connections_of(&mut self, account: &str) -> Vec<Connection> {
        self.client
            .list_connections(as_account(account, ListConnectionsRequest::default()))
            .await
            .expect("the account's connections")
            .into_inner()
            .connections
    }
}
