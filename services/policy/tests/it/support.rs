//! The policy service on loopback, and the requests its callers send it.

use latchkey_policy::Policy;
use latchkey_proto::{
    agent_token::v1::agent_token_service_client::AgentTokenServiceClient,
    policy::v1::{AgentFacts, EvaluateRequest, policy_service_client::PolicyServiceClient},
};
use latchkey_server::{MeshAuth, MeshChannel};
use latchkey_storage::{Backend, Db};
use latchkey_test_support::{
    BusKind, TestBus, TestDatabase,
    mesh::{channel, loopback_listener},
};
use tokio_util::sync::{CancellationToken, DropGuard};

pub const MESH_TOKEN: &str = "policy-test-service-token";

/// Where no agent-token listens: every request of these tests carries the agent's facts, as
/// agent-token's own calls at issue do, so policy never looks an agent up.
const NO_AGENT_TOKEN: &str = "http://127.0.0.1:9";

/// A running policy service; it stops on drop.
pub struct TestPolicy {
    pub client: PolicyServiceClient<MeshChannel>,
    /// Stops every task of the test on drop.
    _shutdown: DropGuard,
    _database: TestDatabase,
    _bus: TestBus,
}

impl TestPolicy {
    pub async fn start(backend: Backend) -> Self {
        let mesh = MeshAuth::new(MESH_TOKEN);
        let shutdown = CancellationToken::new();
        let database = TestDatabase::new(backend).await;
        let bus = TestBus::new(BusKind::Local).await;
        let policy = Policy::open(
            Db::connect(database.url()).await.expect("open the policy database"),
            mesh.clone(),
            AgentTokenServiceClient::new(channel(NO_AGENT_TOKEN, &mesh)),
        )
        .await
        .expect("open the policy service");
        let (listener, url) = loopback_listener().await;
        tokio::spawn(policy.run(listener, bus.bus.clone(), shutdown.clone()));
        Self {
            client: PolicyServiceClient::new(channel(&url, &mesh)),
            _shutdown: shutdown.drop_guard(),
            _database: database,
            _bus: bus,
        }
    }
}

/// What agent-token asks at issue for an active agent of `owner` wanting `scope`: with `enforce`,
/// an approval rule holds the request instead of only answering.
pub fn token_request(agent_id: &str, scope: &str, enforce: bool) -> EvaluateRequest {
    EvaluateRequest {
        agent_id: agent_id.to_owned(),
        scope: vec![scope.to_owned()],
        target_service: "billing".to_owned(),
        agent: Some(AgentFacts {
            owner: "finance".to_owned(),
            status: "active".to_owned(),
            ..AgentFacts::default()
        }),
        enforce,
        decision_id: format!("dec_{}", uuid_like(agent_id, scope)),
        ttl: 300,
        intent: "nightly invoice run".to_owned(),
        requested_by: "key_test".to_owned(),
        ..EvaluateRequest::default()
    }
}

/// A decision id unique enough for one test's requests.
fn uuid_like(agent_id: &str, scope: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{agent_id}_{}_{}",
        scope.replace('.', "_"),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
