//! Agent-token on loopback with what it stands on: a vault for its signing keys, the policy service
//! that decides every issue (which in turn looks agents up in agent-token), and an in-process bus.

use latchkey_agent_token::{AgentToken, DomainsConfig};
use latchkey_policy::Policy;
use latchkey_proto::{
    agent_token::v1::{
        CreateAccountRequest, agent_token_service_client::AgentTokenServiceClient,
        certificate_service_client::CertificateServiceClient, domain_service_client::DomainServiceClient,
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
    /// The service itself (a clone of the one serving), for what a test drives directly.
    pub service: AgentToken,
    /// Stops every task of the test on drop.
    _shutdown: DropGuard,
    _databases: [TestDatabase; 2],
    _bus: TestBus,
    _vault: TestVault,
}

impl TestAgentToken {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with_domains(backend, &DomainsConfig::default()).await
    }

    /// A service whose domain checks have `domains` (name servers, timeout, intervals).
    pub async fn start_with_domains(backend: Backend, domains: &DomainsConfig) -> Self {
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
        .with_public_url(PUBLIC_URL)
        .with_domains(domains)
        .expect("valid [domains] settings");
        tokio::spawn(
            agent_token
                .clone()
                .run(agent_token_listener, bus.bus.clone(), shutdown.clone()),
        );

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
            service: agent_token,
            _shutdown: shutdown.drop_guard(),
            _databases: [agent_token_db, policy_db],
            _bus: bus,
            _vault: vault,
        }
    }

    /// Another account; answers its id.
    pub async fn create_account(&self, name: &str) -> String {
        self.client
            .clone()
            .create_account(tonic::Request::new(CreateAccountRequest {
                name: name.to_owned(),
                key_name: "bootstrap".to_owned(),
            }))
            .await
            .expect("create the account")
            .into_inner()
            .account_id
    }

    /// A client of the service's `DomainService`, as the gateway holds it.
    pub fn domains(&self) -> DomainServiceClient<MeshChannel> {
        DomainServiceClient::new(channel(&self.url, &MeshAuth::new(MESH_TOKEN)))
    }
}
