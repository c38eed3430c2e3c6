//! Several policy service instances on one database, called over gRPC as agent-token calls them at
//! issue: a throttle's budget is shared (never more tokens than the limit in all), a policy change
//! made through one instance reaches the other's compiled cache, a held request expires when nobody
//! decides within the configured time, and an agent-token whose policy service cannot be reached refuses to issue.

use std::time::Duration;

use latchkey::{cli::Service, mesh::ServiceSettings};
use latchkey_agent_token::AgentToken;
use latchkey_policy::PolicyConfig;
use latchkey_proto::{
    agent_token::v1::{IssueTokenRequest, agent_token_service_client::AgentTokenServiceClient},
    policy::v1::{AgentFacts, EvaluateRequest, EvaluateResponse, policy_service_client::PolicyServiceClient},
};
use latchkey_server::MeshChannel;
use latchkey_storage::{Backend, Db};
use latchkey_test_support::eventually;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{ask_token, create_agent};
use crate::{
    policies::{call, create_policy, patch_policy},
    support::{Bus, TestMesh, gateway_config},
};

/// Another policy instance on the mesh's policy database and bus, on its own port.
async fn second_policy_instance(t: &TestMesh, shutdown: &CancellationToken) -> PolicyServiceClient<MeshChannel> {
    let context = &t.mesh.context;
    let db = Db::connect(&context.database.url_for(Service::Policy)).await.unwrap();
    let agents = AgentTokenServiceClient::new(
        latchkey_server::connect(context.urls.of(Service::AgentToken).unwrap(), &context.mesh_auth).unwrap(),
    );
    let service = latchkey_policy::Policy::open(db, context.mesh_auth.clone(), agents)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(service.run(listener, context.bus.clone(), shutdown.clone()));
    PolicyServiceClient::new(latchkey_server::connect(&address, &context.mesh_auth).unwrap())
}

/// The mesh's own policy instance.
fn first_policy_instance(t: &TestMesh) -> PolicyServiceClient<MeshChannel> {
    let context = &t.mesh.context;
    PolicyServiceClient::new(
        latchkey_server::connect(context.urls.of(Service::Policy).unwrap(), &context.mesh_auth).unwrap(),
    )
}

/// An issue-time evaluation, as agent-token asks it.
async fn enforce(
    client: &PolicyServiceClient<MeshChannel>,
    account: &str,
    agent: &str,
    scope: &str,
) -> Result<EvaluateResponse, tonic::Status> {
    let message = EvaluateRequest {
        agent_id: agent.to_owned(),
        scope: vec![scope.to_owned()],
        target_service: "any".to_owned(),
        agent: Some(AgentFacts {
            owner: "engineering".to_owned(),
            status: "active".to_owned(),
            ..Default::default()
        }),
        enforce: true,
        decision_id: "dec_test".to_owned(),
        ..Default::default()
    };
    let request = latchkey_server::with_account(message, account, None);
    client.clone().evaluate(request).await.map(tonic::Response::into_inner)
}

#[tokio::test]
async fn a_throttle_holds_across_two_policy_instances_sharing_postgresql() {
    let t = TestMesh::start(Backend::Postgres, Bus::Nats).await;
    let key = t.key.clone();
    let account = t.account_id.clone();
    let shutdown = CancellationToken::new();
    let first = first_policy_instance(&t);
    let second = second_policy_instance(&t, &shutdown).await;
    let agent = create_agent(&t, &key, "writer").await;
    let throttle = json!({"type": "throttle", "limit": 5, "window_secs": 86400, "per": "policy"});
    let policy = create_policy(
        &t,
        &key,
        json!({"name": "five writes a day", "rules": [{"match": {"scopes": ["db.*"]}, "effect": throttle}]}),
    )
    .await;

    // Twelve requests at once, alternating between the instances: five slots in all.
    let calls = (0..12).map(|i| {
        let client = if i % 2 == 0 { first.clone() } else { second.clone() };
        let (account, agent) = (account.clone(), agent.clone());
        tokio::spawn(async move { enforce(&client, &account, &agent, "db.write").await })
    });
    let mut taken = 0;
    let mut refused = 0;
    for call in calls {
        let answer = call.await.unwrap().expect("policy answers");
        assert_eq!(answer.effect, "throttle");
        if answer.throttled {
            assert!(answer.retry_after_secs >= 1, "{answer:?}");
            refused += 1;
        } else {
            taken += 1;
        }
    }
    assert_eq!((taken, refused), (5, 7));
    // Through the gateway too: the budget is spent.
    let body = json!({"agent_id": agent, "scope": ["db.read"]});
    let (status, problem) = call(&t, Method::POST, "/v1/tokens", &key, Some(body)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{problem}");

    // A change made through the first instance reaches the second's cache.
    let answer = enforce(&second, &account, &agent, "docs.read").await.unwrap();
    assert_eq!(answer.effect, "allow", "the account default");
    patch_policy(
        &t,
        &key,
        &policy,
        json!({"rules": [{"match": {"scopes": ["docs.*"]}, "effect": "deny"}]}),
    )
    .await;
    let second_sees_it = eventually(Duration::from_secs(10), || async {
        enforce(&second, &account, &agent, "docs.read")
            .await
            .is_ok_and(|answer| answer.effect == "deny")
    })
    .await;
    assert!(second_sees_it, "the second instance kept a stale policy");
    shutdown.cancel();
    t.stop().await;
}

async fn pending_approvals_expire(backend: Backend, bus: Bus) {
    // A deployment whose approvals wait one second for a decision (`[policy] approval_ttl_secs`).
    let settings = ServiceSettings {
        gateway: gateway_config(),
        policy: PolicyConfig {
            approval_ttl_secs: 1,
            ..PolicyConfig::default()
        },
        ..ServiceSettings::default()
    };
    let t = TestMesh::start_with_settings(backend, bus, settings).await;
    let key = t.key.clone();
    let agent = create_agent(&t, &key, "deployer").await;
    create_policy(
        &t,
        &key,
        json!({"name": "hold", "rules": [{"effect": "require_approval"}]}),
    )
    .await;
    let (status, held, _) = ask_token(&t, &key, json!({"agent_id": agent, "scope": ["secrets.read"]})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{held}");
    let approval = held["approval_id"].as_str().unwrap().to_owned();
    assert!(approval.starts_with("apr_"), "{approval}");

    let path = format!("/v1/approvals/{approval}");
    let expired = eventually(Duration::from_secs(10), || async {
        let (_, body) = call(&t, Method::GET, &path, &key, None).await;
        body["status"] == "expired"
    })
    .await;
    assert!(expired, "the approval never expired");
    let (_, page) = call(&t, Method::GET, "/v1/approvals?status=expired", &key, None).await;
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["data"][0]["id"], approval.as_str());
    let (_, page) = call(&t, Method::GET, "/v1/approvals?status=pending", &key, None).await;
    assert_eq!(page["total"], 0, "{page}");
    let (status, problem) = call(&t, Method::POST, &format!("{path}/approve"), &key, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("expired"), "{problem}");
    t.stop().await;
}

#[tokio::test]
async fn pending_approvals_expire_on_sqlite() {
    pending_approvals_expire(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn pending_approvals_expire_on_postgres_with_nats() {
    pending_approvals_expire(Backend::Postgres, Bus::Nats).await;
}

#[tokio::test]
async fn issue_fails_closed_when_the_policy_service_cannot_be_reached() {
    let t = TestMesh::start(Backend::Sqlite, Bus::Local).await;
    let key = t.key.clone();
    let agent = create_agent(&t, &key, "reporter").await;
    let context = &t.mesh.context;

    // An agent-token instance whose policy service is a closed port.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nowhere = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let policy = PolicyServiceClient::new(latchkey_server::connect(&nowhere, &context.mesh_auth).unwrap());
    let db = Db::connect(&context.database.url_for(Service::AgentToken))
        .await
        .unwrap();
    let service = AgentToken::open(db, context.mesh_auth.clone(), t.system_secrets())
        .await
        .unwrap()
        .with_policy(policy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    tokio::spawn(service.run(listener, context.bus.clone(), shutdown.clone()));
    let client = AgentTokenServiceClient::new(latchkey_server::connect(&address, &context.mesh_auth).unwrap());

    let request = latchkey_server::with_account(
        IssueTokenRequest {
            agent_id: agent.clone(),
            scope: vec!["docs.read".to_owned()],
            ..Default::default()
        },
        &t.account_id,
        None,
    );
    let status = client
        .clone()
        .issue_token(request)
        .await
        .expect_err("no token without a decision");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    let error = latchkey_errors::ApiError::from_status(&status);
    assert_eq!(error.code, latchkey_errors::ErrorCode::Unavailable);

    // The mesh's own agent-token, whose policy service is up, still issues.
    let body = json!({"agent_id": agent, "scope": ["docs.read"]});
    let (status, issued) = call(&t, Method::POST, "/v1/tokens", &key, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let entries = t.audit_entries_at_least(&key, 4).await;
    assert_eq!(entries.iter().filter(|e| e["type"] == "token.issued").count(), 1);
    shutdown.cancel();
    t.stop().await;
}
