//! Plans and their limits, as an operator sets them and an account meets them: a `free` plan that
//! allows two agents answers the third `POST /v1/agents` with 402 PLAN_LIMIT naming the plan, the
//! limit and the usage; every limited resource is refused at its limit by the service that owns
//! it; `GET /v1/usage` tells the account where it stands; moving the account to another plan
//! (`latchkey account plan`) takes effect on the next request and emits `billing.plan_upgraded` or
//! `billing.plan_changed`, which audit records.

use std::collections::BTreeMap;

use latchkey::mesh::ServiceSettings;
use latchkey_server::{PlanLimits, Plans};
use latchkey_storage::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Bus, TestMesh};

async fn post(t: &TestMesh, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
    let response = t.as_key(Method::POST, path, key).json(&body).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn usage(t: &TestMesh, key: &str) -> Value {
    let response = t.as_key(Method::GET, "/v1/usage", key).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// `free` (the default): 2 agents, 2 API keys, 1 policy, 1 webhook, 3 tokens a month, 1 connection;
/// `pro`: more of everything.
fn plans() -> Plans {
    let free = PlanLimits {
        agents: Some(2),
        api_keys: Some(2),
        policies: Some(1),
        webhooks: Some(1),
        connections: Some(1),
        domains: Some(1),
        tokens_per_month: Some(3),
        ..PlanLimits::default()
    };
    let pro = PlanLimits {
        agents: Some(50),
        api_keys: Some(50),
        policies: Some(50),
        webhooks: Some(50),
        connections: Some(50),
        tokens_per_month: Some(1_000),
        ..PlanLimits::default()
    };
    Plans::new(
        "free",
        BTreeMap::from([
            ("free".to_owned(), free),
            ("pro".to_owned(), pro),
            ("self-hosted".to_owned(), PlanLimits::default()),
        ]),
    )
    .unwrap()
}

async fn start(backend: Backend, bus: Bus) -> TestMesh {
    let settings = ServiceSettings {
        plans: plans(),
        ..ServiceSettings::default()
    };
    TestMesh::start_with_settings(backend, bus, settings).await
}

fn assert_plan_limit(status: StatusCode, problem: &Value, resource: &str, limit: u64) {
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{problem}");
    assert_eq!(problem["code"], "PLAN_LIMIT", "{problem}");
    assert_eq!(problem["plan"], "free", "{problem}");
    assert_eq!(problem["resource"], resource, "{problem}");
    assert_eq!(problem["limit"], limit, "{problem}");
    assert_eq!(problem["usage"], limit, "{problem}");
    assert_eq!(problem["status"], 402);
}

async fn every_limit_holds_and_a_plan_change_lifts_it(backend: Backend, bus: Bus) {
    let t = start(backend, bus).await;
    let key = t.key.clone();

    // Agents: two, then 402; revoking one frees its place.
    let mut agents = Vec::new();
    for name in ["first", "second"] {
        let (status, agent) = post(&t, "/v1/agents", &key, json!({"name": name, "owner": "eng"})).await;
        assert_eq!(status, StatusCode::CREATED, "{agent}");
        agents.push(agent["id"].as_str().unwrap().to_owned());
    }
    let (status, problem) = post(&t, "/v1/agents", &key, json!({"name": "third", "owner": "eng"})).await;
    assert_plan_limit(status, &problem, "agents", 2);
    let (status, _) = post(&t, &format!("/v1/agents/{}/revoke", agents[1]), &key, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, third) = post(&t, "/v1/agents", &key, json!({"name": "third", "owner": "eng"})).await;
    assert_eq!(status, StatusCode::CREATED, "{third}");

    // API keys: the bootstrap key and one more.
    let (status, _) = post(&t, "/v1/api-keys", &key, json!({"name": "second"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, problem) = post(&t, "/v1/api-keys", &key, json!({"name": "third"})).await;
    assert_plan_limit(status, &problem, "api_keys", 2);

    // Policies and webhooks: one each.
    let policy = json!({"name": "allow reads", "rules": [{"match": {"scopes": ["db.read"]}, "effect": "allow"}]});
    let (status, created) = post(&t, "/v1/policies", &key, policy.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, problem) = post(&t, "/v1/policies", &key, policy).await;
    assert_plan_limit(status, &problem, "policies", 1);
    let webhook = json!({"url": "https://hooks.example.com/latchkey", "events": ["agent.created"]});
    let (status, created) = post(&t, "/v1/webhooks", &key, webhook.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, problem) = post(&t, "/v1/webhooks", &key, webhook).await;
    assert_plan_limit(status, &problem, "webhooks", 1);

    // Tokens: three this month.
    let token_request = json!({"agent_id": agents[0], "scope": ["db.read"]});
    for _ in 0..3 {
        let (status, issued) = post(&t, "/v1/tokens", &key, token_request.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{issued}");
    }
    let (status, problem) = post(&t, "/v1/tokens", &key, token_request.clone()).await;
    assert_plan_limit(status, &problem, "tokens_per_month", 3);

    // Domains: one claim, pending or not.
    let (status, claimed) = post(&t, "/v1/domains", &key, json!({"domain": "example.com"})).await;
    assert_eq!(status, StatusCode::CREATED, "{claimed}");
    let (status, problem) = post(&t, "/v1/domains", &key, json!({"domain": "example.org"})).await;
    assert_plan_limit(status, &problem, "domains", 1);

    // Where the account stands.
    let standing = usage(&t, &key).await;
    assert_eq!(standing["plan"], "free");
    assert_eq!(standing["limits"]["agents"], 2);
    assert_eq!(standing["limits"]["certificates"], Value::Null, "unlimited");
    assert_eq!(
        standing["usage"],
        json!({"agents": 2, "api_keys": 2, "certificates": 0, "domains": 1, "policies": 1, "webhooks": 1,
               "connections": 0, "tokens_per_month": 3, "service_users": 0})
    );

    // Another account's usage is its own.
    let (_other, other_key) = t.mesh.create_account("Other").await.unwrap();
    let theirs = usage(&t, &other_key).await;
    assert_eq!(theirs["usage"]["agents"], 0);
    assert_eq!(theirs["usage"]["tokens_per_month"], 0);

    // An upgrade lifts the limits on the next request, on every gateway (the cached key's plan is
    // dropped by the event), and is recorded.
    let moved = t.mesh.set_account_plan(&t.account_id, "pro").await.unwrap();
    assert_eq!(moved.from_plan, "free");
    assert_eq!(moved.event_type.as_deref(), Some("billing.plan_upgraded"));
    let lifted = latchkey_test_support::read_until(
        std::time::Duration::from_secs(10),
        || async {
            post(&t, "/v1/agents", &key, json!({"name": "fourth", "owner": "eng"}))
                .await
                .0
        },
        |status| *status == StatusCode::CREATED,
    )
    .await;
    assert_eq!(lifted, StatusCode::CREATED);
    assert_eq!(usage(&t, &key).await["plan"], "pro");
    let (status, issued) = post(&t, "/v1/tokens", &key, token_request).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");

    // Moving down is a change, not an upgrade; what exceeds the lower limits stays.
    let moved = t.mesh.set_account_plan(&t.account_id, "free").await.unwrap();
    assert_eq!(moved.event_type.as_deref(), Some("billing.plan_changed"));
    let again = t.mesh.set_account_plan(&t.account_id, "free").await.unwrap();
    assert_eq!(again.event_type, None, "the same plan: nothing happens");
    let unknown = t.mesh.set_account_plan(&t.account_id, "gold").await.unwrap_err();
    assert!(format!("{unknown:#}").contains("no such plan"), "{unknown:#}");
    let nobody = t.mesh.set_account_plan("acct_nobody", "pro").await.unwrap_err();
    assert!(format!("{nobody:#}").contains("account not found"), "{nobody:#}");
    let refused = latchkey_test_support::read_until(
        std::time::Duration::from_secs(10),
        || async { post(&t, "/v1/agents", &key, json!({"name": "fifth", "owner": "eng"})).await },
        |(status, _)| *status == StatusCode::PAYMENT_REQUIRED,
    )
    .await;
    assert_eq!(refused.1["usage"], 3, "{}", refused.1);

    let entries = latchkey_test_support::read_until(
        std::time::Duration::from_secs(30),
        || t.audit_entries(&key),
        |entries| entries.iter().any(|e| e["type"] == "billing.plan_changed"),
    )
    .await;
    let types: Vec<&str> = entries.iter().filter_map(|e| e["type"].as_str()).collect();
    assert!(types.contains(&"billing.plan_upgraded"), "{types:?}");
    assert!(types.contains(&"billing.plan_changed"), "{types:?}");
    t.stop().await;
}

#[tokio::test]
async fn every_limit_holds_and_a_plan_change_lifts_it_on_sqlite() {
    every_limit_holds_and_a_plan_change_lifts_it(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn every_limit_holds_and_a_plan_change_lifts_it_on_postgres_with_nats() {
    every_limit_holds_and_a_plan_change_lifts_it(Backend::Postgres, Bus::Nats).await;
}

/// Many creates at once, racing for the last places: exactly the limit get through, on PostgreSQL
/// where transactions really run side by side.
#[tokio::test]
async fn racing_creates_never_pass_the_limit() {
    let t = start(Backend::Postgres, Bus::Local).await;
    let attempts = (0..12).map(|i| {
        let t = &t;
        async move {
            post(
                t,
                "/v1/agents",
                &t.key,
                json!({"name": format!("racer {i}"), "owner": "eng"}),
            )
            .await
            .0
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::PAYMENT_REQUIRED).count();
    assert_eq!((created, refused), (2, 10), "{statuses:?}");
    t.stop().await;
}
