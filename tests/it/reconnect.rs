//! An instance cut off from NATS keeps no stale cache: a second gateway and policy instance on a
//! NATS connection of their own, through a proxy the test cuts, while the mesh's own instances stay
//! connected. While cut off, the second instance answers from the database (a key deleted elsewhere
//! is refused, a changed policy enforced) instead of from its caches; after the connection is back,
//! changes made while it was cut off hold there too, and events reach it again.
//!
//! Every cache TTL is an hour here, so nothing but the live-subscription mechanism can make the
//! second instance notice a change within the test's bound (10 s for each check).

use std::time::Duration;

use latchkey::{cli::Service, mesh::ServiceSettings};
use latchkey_gateway::GatewayConfig;
use latchkey_policy::PolicyConfig;
use latchkey_storage::{Backend, Db};
use latchkey_test_support::{TcpProxy, eventually, nats_bus};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::{
    approvals::create_agent,
    policies::{create_policy, patch_policy},
    support::{Bus, TestMesh, gateway_config},
};

/// How long the second instance may take to show a change, in each check.
const BOUND: Duration = Duration::from_secs(10);
/// Longer than the test: only events (or their absence being noticed) can clear a cache entry.
const HOUR: u64 = 3600;

/// A gateway and a policy instance whose NATS connection goes through `proxy`; the gateway asks
/// that policy instance. Answers the gateway's base URL.
async fn instance_behind(t: &TestMesh, proxy: &TcpProxy, shutdown: &CancellationToken) -> String {
    let mut context = t.mesh.context.clone();
    context.bus = nats_bus(&proxy.nats_url(), "latchkey").await;

    let db = Db::connect(&context.database.url_for(Service::Policy)).await.unwrap();
    let agents = latchkey_proto::agent_token::v1::agent_token_service_client::AgentTokenServiceClient::new(
        latchkey_server::connect(context.urls.of(Service::AgentToken).unwrap(), &context.mesh_auth).unwrap(),
    );
    let policy = latchkey_policy::Policy::open(db, context.mesh_auth.clone(), agents)
        .await
        .unwrap()
        .with_config(&context.settings.policy);
    let policy_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let policy_url = format!("http://{}", policy_listener.local_addr().unwrap());
    tokio::spawn(policy.run(policy_listener, context.bus.clone(), shutdown.clone()));
    context.urls.0.insert(Service::Policy.name(), policy_url);

    let gateway_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway_url = format!("http://{}", gateway_listener.local_addr().unwrap());
    latchkey::mesh::spawn_service(Service::Gateway, gateway_listener, &context, shutdown.clone())
        .await
        .unwrap();
    gateway_url
}

/// The status `secret` gets from `base`'s `GET /v1/api-keys`.
async fn status_with(t: &TestMesh, base: &str, secret: &str) -> u16 {
    t.http
        .get(format!("{base}/v1/api-keys"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The effect `base`'s dry run gives `agent` asking for `scope`.
async fn effect_at(t: &TestMesh, base: &str, agent: &str, scope: &str) -> String {
    let answer: Value = t
        .http
        .post(format!("{base}/v1/policies/evaluate"))
        .bearer_auth(&t.key)
        .json(&json!({"agent_id": agent, "scope": [scope]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["effect"].as_str().unwrap_or_default().to_owned()
}

/// Creates a key through the mesh's gateway; answers (id, secret).
async fn new_key(t: &TestMesh, name: &str) -> (String, String) {
    let created = t.create_key(&t.key, name).await;
    let field = |name: &str| created[name].as_str().unwrap().to_owned();
    (field("id"), field("key"))
}

async fn delete_key(t: &TestMesh, id: &str) {
    let deleted = t
        .as_key(Method::DELETE, &format!("/v1/api-keys/{id}"), &t.key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
}

fn allow_then(scope: &str, effect: &str) -> Value {
    json!({"rules": [{"match": {"scopes": [format!("{scope}.*")]}, "effect": effect}]})
}

#[tokio::test]
async fn an_instance_cut_off_from_nats_serves_nothing_stale_during_or_after() {
    let settings = ServiceSettings {
        gateway: GatewayConfig {
            key_cache_ttl_secs: HOUR,
            list_cache_ttl_secs: HOUR,
            ..gateway_config()
        },
        policy: PolicyConfig {
            cache_ttl_secs: HOUR,
            ..PolicyConfig::default()
        },
        ..ServiceSettings::default()
    };
    let t = TestMesh::start_with_settings(Backend::Postgres, Bus::Nats, settings).await;
    let nats_port = t.nats.as_ref().unwrap().port();
    let proxy = TcpProxy::start(([127, 0, 0, 1], nats_port).into()).await;
    let shutdown = CancellationToken::new();
    let second = instance_behind(&t, &proxy, &shutdown).await;

    let agent = create_agent(&t, &t.key, "reporter").await;
    let mut alpha = allow_then("alpha", "allow");
    alpha["name"] = json!("alpha");
    let alpha = create_policy(&t, &t.key, alpha).await;
    let mut beta = allow_then("beta", "allow");
    beta["name"] = json!("beta");
    let beta = create_policy(&t, &t.key, beta).await;
    let (cut_key_id, cut_key) = new_key(&t, "deleted while cut off, checked then").await;
    let (later_key_id, later_key) = new_key(&t, "deleted while cut off, checked after").await;

    // The second instance caches both keys and the account's compiled policies.
    assert_eq!(status_with(&t, &second, &cut_key).await, 200);
    assert_eq!(status_with(&t, &second, &later_key).await, 200);
    assert_eq!(effect_at(&t, &second, &agent, "alpha.read").await, "allow");
    assert_eq!(effect_at(&t, &second, &agent, "beta.read").await, "allow");

    // Cut off, the second instance answers from the database, not from what it had cached.
    proxy.cut();
    delete_key(&t, &cut_key_id).await;
    let refused = eventually(BOUND, || async { status_with(&t, &second, &cut_key).await == 401 }).await;
    assert!(
        refused,
        "cut off from NATS, the instance served a deleted key from its cache"
    );
    patch_policy(&t, &t.key, &alpha, allow_then("alpha", "deny")).await;
    let denied = eventually(BOUND, || async {
        effect_at(&t, &second, &agent, "alpha.read").await == "deny"
    })
    .await;
    assert!(
        denied,
        "cut off from NATS, the instance enforced a stale policy from its cache"
    );

    // Changed while cut off, looked at only once the connection is back.
    delete_key(&t, &later_key_id).await;
    patch_policy(&t, &t.key, &beta, allow_then("beta", "deny")).await;
    proxy.restore();
    let refused = eventually(BOUND, || async { status_with(&t, &second, &later_key).await == 401 }).await;
    assert!(
        refused,
        "after reconnecting, the instance still accepts a key deleted while it was cut off"
    );
    let denied = eventually(BOUND, || async {
        effect_at(&t, &second, &agent, "beta.read").await == "deny"
    })
    .await;
    assert!(
        denied,
        "after reconnecting, the instance enforces a policy changed while it was cut off"
    );
    assert_eq!(status_with(&t, &second, &cut_key).await, 401);

    // And events reach it again: a key it has seen, deleted elsewhere, stops working there.
    let (fresh_key_id, fresh_key) = new_key(&t, "deleted after the reconnect").await;
    assert_eq!(status_with(&t, &second, &fresh_key).await, 200);
    delete_key(&t, &fresh_key_id).await;
    let refused = eventually(BOUND, || async { status_with(&t, &second, &fresh_key).await == 401 }).await;
    assert!(refused, "after reconnecting, a deletion never reached the instance");

    shutdown.cancel();
    t.stop().await;
}
