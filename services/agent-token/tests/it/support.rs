//! Agent-token on loopback with what it stands on: a vault for its signing keys, the policy service
//! that decides every issue (which in turn looks agents up in agent-token), and an in-process bus.

use latchkey_agent_token::AgentToken;
use latchkey_policy::Policy;
use latchkey_proto::{
    agent_token::v1::{
        CreateAccountRequest, agent_token_service_client::AgentTokenServiceClient,
        certificate_service_client::CertificateServiceClient,
    },
    policy::v1::policy_service_client::PolicyServiceClient,
};
use latchkey_server::{MeshAuth, MeshChannel};
use latchkey_storage::{Backend, Db};
use latchkey_test_support::{
    BusKind, TestBus, TestDatabase,
    mesh::{TestVault, channel, loopback_listener},
};
use tokio_util::sync::{CancellationToken, DropGuard};

pub const MESH_TOKEN: &str = "agent-token-test-service-token";

/// The deployment's public URL the tests give the service: the `aud` of certificate JWTs.
pub const PUBLIC_URL: &str = "https://latchkey.test";

/// A running agent-token service and one account in it; everything stops on drop.
pub struct TestAgentToken {
    pub client: AgentTokenServiceClient<MeshChannel>,
    /// The same server's `CertificateService`.
    pub certificates: CertificateServiceClient<MeshChannel>,
    /// Where the service's events arrive.
    pub bus: latchkey_events::EventBus,
    /// Where a client without the mesh credential reaches the service.
    pub url: String,
    pub account_id: String,
    /// Stops every task of the test on drop.
    _shutdown: DropGuard,
    _databases: [TestDatabase; 2],
    _bus: TestBus,
    _vault: TestVault,
}

impl TestAgentToken {
    pub async fn start(backend: Backend) -> Self {
        let mesh = MeshAuth::new(MESH_TOKEN);
        let shutdown = CancellationToken::new();
        let vault = TestVault::start(&mesh, &shutdown).await;
        let bus = TestBus::new(BusKind::Local).await;
        let (agent_token_db, policy_db) = (TestDatabase::new(backend).await, TestDatabase::new(backend).await);
        // Each needs the other's address: both listen before either starts.
        let (agent_token_listener, agent_token_url) = loopback_listener().await;
        let (policy_listener, policy_url) = loopback_listener().await;

        let policy = Policy::open(
            Db::connect(policy_db.url()).await.expect("open the policy database"),
            mesh.clone(),
            AgentTokenServiceClient::new(channel(&agent_token_url, &mesh)),
        )
        .await
        .expect("open the policy service");
        tokio::spawn(policy.run(policy_listener, bus.bus.clone(), shutdown.clone()));

        let agent_token = AgentToken::open(
            Db::connect(agent_token_db.url())
                .await
                .expect("open the agent-token database"),
            mesh.clone(),
            vault.system_secrets(&mesh),
        )
        .await
        .expect("open the agent-token service")
        .with_policy(PolicyServiceClient::new(channel(&policy_url, &mesh)))
        .with_public_url(PUBLIC_URL);
        tokio::spawn(agent_token.run(agent_token_listener, bus.bus.clone(), shutdown.clone()));

        let mut client = AgentTokenServiceClient::new(channel(&agent_token_url, &mesh));
        let certificates = CertificateServiceClient::new(channel(&agent_token_url, &mesh));
        let account = client
            .create_account(tonic::Request::new(CreateAccountRequest {
                name: "Acme".to_owned(),
                key_name: "bootstrap".to_owned(),
            }))
            .await
            .expect("create the account")
            .into_inner();
        Self {
            client,
            certificates,
            bus: bus.bus.clone(),
            url: agent_token_url,
            account_id: account.account_id,
            _shutdown: shutdown.drop_guard(),
            _databases: [agent_token_db, policy_db],
            _bus: bus,
            _vault: vault,
        }
    }
}
