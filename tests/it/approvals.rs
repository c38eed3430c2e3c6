//! Policies at token issue, as a client meets them through `POST /v1/tokens`: a deny answers 403
//! naming the policy and rule, with a `token.denied` entry in the audit chain carrying the decision
//! id; a throttle answers 429 with `Retry-After` once the window's budget is spent, and the budget
//! holds across two policy service instances on one database; a require_approval rule answers 202
//! with an approval that a person lists, approves or denies, and an approved request yields its
//! token exactly once. Another account's approvals are invisible and untouchable, bad input gets the
//! documented code, and a policy service that cannot be reached refuses the token (503), never
//! allows it.

mod instances;

use latchkey_storage::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    policies::{call, create_policy},
    support::{Bus, TestMesh},
};

pub(crate) async fn create_agent(t: &TestMesh, key: &str, name: &str) -> String {
    let body = json!({"name": name, "owner": "engineering"});
    let (status, agent) = call(t, Method::POST, "/v1/agents", key, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    agent["id"].as_str().unwrap().to_owned()
}

/// `POST /v1/tokens` with the status, the body and the `Retry-After` header.
async fn ask_token(t: &TestMesh, key: &str, body: Value) -> (StatusCode, Value, Option<u64>) {
    let response = t
        .as_key(Method::POST, "/v1/tokens", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok());
    (status, response.json().await.unwrap_or(Value::Null), retry_after)
}

/// The `dec_…` a problem's detail names.
fn decision_in(detail: &str) -> String {
    let start = detail.find("dec_").expect("a decision id in the detail");
    detail[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

async fn deny_and_throttle_at_issue(backend: Backend, bus: Bus) {
    let t = TestMesh::start(backend, bus).await;
    let key = t.key.clone();
    let agent = create_agent(&t, &key, "reporter").await;
    let other_agent = create_agent(&t, &key, "indexer").await;
    let deny = create_policy(
        &t,
        &key,
        json!({"name": "no secrets", "priority": 500,
               "rules": [{"match": {"scopes": ["docs.*"]}, "effect": "allow"},
                         {"match": {"scopes": ["secrets.*"]}, "effect": "deny"}]}),
    )
    .await;
    // A day-long window, so the budget cannot roll over while the test runs.
    let throttle = json!({"type": "throttle", "limit": 2, "window_secs": 86400, "per": "agent"});
    create_policy(
        &t,
        &key,
        json!({"name": "slow writes", "rules": [{"match": {"scopes": ["db.*"]}, "effect": throttle}]}),
    )
    .await;

    // Denied: 403 naming the policy and the rule, and no token.
    let (status, problem, _) = ask_token(&t, &key, json!({"agent_id": agent, "scope": ["secrets.read"]})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(problem["code"], "FORBIDDEN");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("policy {deny} rule 1")), "{detail}");
    assert!(detail.contains("no secrets"), "{detail}");
    assert!(problem.get("token").is_none());
    let denied_decision = decision_in(detail);

    // Allowed by the same policy's first rule.
    let (status, issued, _) = ask_token(&t, &key, json!({"agent_id": agent, "scope": ["docs.read"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");

    // Throttled: two per agent per window, then 429 with the seconds until the next window.
    for _ in 0..2 {
        let (status, issued, _) = ask_token(&t, &key, json!({"agent_id": agent, "scope": ["db.write"]})).await;
        assert_eq!(status, StatusCode::CREATED, "{issued}");
    }
    let (status, problem, retry_after) = ask_token(&t, &key, json!({"agent_id": agent, "scope": ["db.write"]})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{problem}");
    assert_eq!(problem["code"], "RATE_LIMITED");
    let retry_after = retry_after.expect("a Retry-After header");
    assert!((1..=86_400).contains(&retry_after), "{retry_after}");
    // Per agent: another agent has its own budget.
    let (status, issued, _) = ask_token(&t, &key, json!({"agent_id": other_agent, "scope": ["db.read"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");

    // The denial is in the audit chain with the decision id the caller saw; the throttled request
    // left nothing. account, key, 2 agents, 2 policies, denied, 4 issued.
    let entries = t.audit_entries_at_least(&key, 11).await;
    let denied: Vec<&Value> = entries.iter().filter(|e| e["type"] == "token.denied").collect();
    assert_eq!(denied.len(), 1, "{entries:?}");
    assert_eq!(denied[0]["decision_id"], denied_decision.as_str());
    assert_eq!(denied[0]["data"]["policy_id"], deny.as_str());
    assert_eq!(denied[0]["data"]["rule_index"], 1);
    assert_eq!(denied[0]["data"]["scope"], json!(["secrets.read"]));
    let issued = entries.iter().filter(|e| e["type"] == "token.issued").count();
    assert_eq!(issued, 4, "{entries:?}");
    t.stop().await;
}

#[tokio::test]
async fn policies_deny_and_throttle_token_issue_on_sqlite() {
    deny_and_throttle_at_issue(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn policies_deny_and_throttle_token_issue_on_postgres_with_nats() {
    deny_and_throttle_at_issue(Backend::Postgres, Bus::Nats).await;
}

async fn approve(t: &TestMesh, key: &str, id: &str, verdict: &str) -> (StatusCode, Value) {
    call(t, Method::POST, &format!("/v1/approvals/{id}/{verdict}"), key, None).await
}

async fn approval_lifecycle(backend: Backend, bus: Bus) {
    let t = TestMesh::start(backend, bus).await;
    let key = t.key.clone();
    let agent = create_agent(&t, &key, "deployer").await;
    let hold = create_policy(
        &t,
        &key,
        json!({"name": "secrets need a human", "rules": [{"match": {"scopes": ["secrets.*"]}, "effect": "require_approval"}]}),
    )
    .await;
    let request = json!({"agent_id": agent, "scope": ["secrets.read", "docs.read"], "ttl": 600,
                         "intent": "rotate the deploy key"});

    // Held: 202 with an approval id, no token.
    let (status, held, _) = ask_token(&t, &key, request.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{held}");
    assert_eq!(held["status"], "pending");
    assert!(held.get("token").is_none(), "{held}");
    let approval_id = held["approval_id"].as_str().unwrap().to_owned();
    assert!(approval_id.starts_with("apr_"), "{approval_id}");

    // Listed and readable, with what a person needs to judge it.
    let (status, pending) = call(&t, Method::GET, "/v1/approvals?status=pending", &key, None).await;
    assert_eq!(status, StatusCode::OK, "{pending}");
    assert_eq!(pending["total"], 1);
    assert_eq!(pending["data"][0]["id"], approval_id.as_str());
    let (status, approval) = call(&t, Method::GET, &format!("/v1/approvals/{approval_id}"), &key, None).await;
    assert_eq!(status, StatusCode::OK, "{approval}");
    assert_eq!(approval["status"], "pending");
    assert_eq!(approval["agent_id"], agent.as_str());
    assert_eq!(approval["scope"], json!(["secrets.read", "docs.read"]));
    assert_eq!(approval["policy_id"], hold.as_str());
    assert_eq!(approval["rule_index"], 0);
    assert_eq!(approval["intent"], "rotate the deploy key");
    assert_eq!(approval["decision_id"], held["decision_id"]);
    assert_eq!(approval["token_issued"], false);

    // Asking with the approval before anyone decided: refused, no token.
    let with_approval = |id: &str| {
        let mut body = request.clone();
        body["approval_id"] = json!(id);
        body
    };
    let (status, problem, _) = ask_token(&t, &key, with_approval(&approval_id)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("pending"), "{problem}");

    // Approved: the request yields its token once.
    let (status, approved) = approve(&t, &key, &approval_id, "approve").await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["status"], "approved");
    let mut other_scope = with_approval(&approval_id);
    other_scope["scope"] = json!(["secrets.write"]);
    let (status, problem, _) = ask_token(&t, &key, other_scope).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "another request: {problem}");
    let (status, issued, _) = ask_token(&t, &key, with_approval(&approval_id)).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let token = issued["token"].as_str().unwrap().to_owned();
    let (_, verdict) = call(
        &t,
        Method::POST,
        "/v1/tokens/verify",
        &key,
        Some(json!({"token": token})),
    )
    .await;
    assert_eq!(verdict["valid"], true, "{verdict}");
    let (status, problem, _) = ask_token(&t, &key, with_approval(&approval_id)).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a second redemption: {problem}"
    );
    assert!(
        problem["detail"].as_str().unwrap().contains("already yielded"),
        "{problem}"
    );
    let (_, approval) = call(&t, Method::GET, &format!("/v1/approvals/{approval_id}"), &key, None).await;
    assert_eq!(approval["token_issued"], true);
    let (status, problem) = approve(&t, &key, &approval_id, "deny").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "deciding twice: {problem}");

    // Denied: never a token, and it cannot be approved afterwards.
    let (_, held, _) = ask_token(&t, &key, request.clone()).await;
    let denied_id = held["approval_id"].as_str().unwrap().to_owned();
    let (status, denied) = approve(&t, &key, &denied_id, "deny").await;
    assert_eq!(status, StatusCode::OK, "{denied}");
    assert_eq!(denied["status"], "denied");
    let (status, problem, _) = ask_token(&t, &key, with_approval(&denied_id)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("denied"), "{problem}");
    let (status, problem) = approve(&t, &key, &denied_id, "approve").await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "approving a denied one: {problem}"
    );

    for (filter, expected) in [("approved", &approval_id), ("denied", &denied_id)] {
        let (_, page) = call(&t, Method::GET, &format!("/v1/approvals?status={filter}"), &key, None).await;
        assert_eq!(page["total"], 1, "{filter}: {page}");
        assert_eq!(page["data"][0]["id"], expected.as_str());
    }
    let (_, everything) = call(&t, Method::GET, "/v1/approvals?limit=1&offset=1", &key, None).await;
    assert_eq!(everything["total"], 2);
    assert_eq!(everything["data"][0]["id"], approval_id.as_str(), "newest first");

    // The audit chain tells the story, each step with the held request's decision id.
    // account, key, agent, policy, 2 requested, approved, issued, denied.
    let entries = t.audit_entries_at_least(&key, 9).await;
    let of_type = |kind: &str| -> Vec<&Value> { entries.iter().filter(|e| e["type"] == kind).collect() };
    assert_eq!(of_type("approval.requested").len(), 2, "{entries:?}");
    assert_eq!(of_type("approval.requested")[0]["subject"], approval_id.as_str());
    assert_eq!(of_type("approval.requested")[0]["decision_id"], approval["decision_id"]);
    assert_eq!(of_type("approval.approved")[0]["subject"], approval_id.as_str());
    assert_eq!(of_type("approval.denied")[0]["subject"], denied_id.as_str());
    assert_eq!(of_type("token.issued").len(), 1, "one token for two held requests");
    let log = serde_json::to_string(&entries).unwrap();
    assert!(!log.contains(&token));
    t.stop().await;
}

#[tokio::test]
async fn held_requests_are_approved_once_or_denied_on_sqlite() {
    approval_lifecycle(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn held_requests_are_approved_once_or_denied_on_postgres_with_nats() {
    approval_lifecycle(Backend::Postgres, Bus::Nats).await;
}

async fn approvals_are_private_and_checked(backend: Backend, bus: Bus) {
    let t = TestMesh::start(backend, bus).await;
    let key = t.key.clone();
    let (_, other_key) = t.mesh.create_account("Second account").await.unwrap();
    let agent = create_agent(&t, &key, "deployer").await;
    let their_agent = create_agent(&t, &other_key, "deployer").await;
    for k in [&key, &other_key] {
        create_policy(
            &t,
            k,
            json!({"name": "hold everything", "rules": [{"effect": "require_approval"}]}),
        )
        .await;
    }
    let (status, held, _) = ask_token(&t, &key, json!({"agent_id": agent, "scope": ["db.read"]})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{held}");
    let mine = held["approval_id"].as_str().unwrap().to_owned();

    // The other account sees none of it and can touch none of it.
    let (_, theirs) = call(&t, Method::GET, "/v1/approvals", &other_key, None).await;
    assert_eq!(theirs["total"], 0, "{theirs}");
    let (status, _) = call(&t, Method::GET, &format!("/v1/approvals/{mine}"), &other_key, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for verdict in ["approve", "deny"] {
        let (status, problem) = approve(&t, &other_key, &mine, verdict).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    }
    let (status, problem, _) = ask_token(
        &t,
        &other_key,
        json!({"agent_id": their_agent, "scope": ["db.read"], "approval_id": mine}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    let (_, approval) = call(&t, Method::GET, &format!("/v1/approvals/{mine}"), &key, None).await;
    assert_eq!(approval["status"], "pending", "untouched");

    // Bad input: the documented code, the field named, nothing written.
    let (status, problem) = call(&t, Method::GET, "/v1/approvals/apr_0000000000000000", &key, None).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NOT_FOUND"))
    );
    let (status, _) = approve(&t, &key, "apr_0000000000000000", "approve").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for (query, field) in [
        ("status=granted", "status"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
    ] {
        let (status, problem) = call(&t, Method::GET, &format!("/v1/approvals?{query}"), &key, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
    }
    let (status, problem) = call(&t, Method::GET, "/v1/approvals?limit=many", &key, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    for (approval_id, field) in [(json!(5), "approval_id"), (json!("not-an-approval"), "approval_id")] {
        let body = json!({"agent_id": agent, "scope": ["db.read"], "approval_id": approval_id});
        let (status, problem, _) = ask_token(&t, &key, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
        let named = problem["errors"][0]["field"].as_str().unwrap_or_default();
        assert!(named.is_empty() || named == field, "{problem}");
    }
    let unknown = json!({"agent_id": agent, "scope": ["db.read"], "approval_id": "apr_0000000000000000"});
    let (status, _, _) = ask_token(&t, &key, unknown).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = call(&t, Method::GET, "/v1/approvals", &key, None).await;
    assert_eq!(page["total"], 1, "bad requests held nothing: {page}");
    t.stop().await;
}

#[tokio::test]
async fn approvals_are_private_and_checked_on_sqlite() {
    approvals_are_private_and_checked(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn approvals_are_private_and_checked_on_postgres_with_nats() {
    approvals_are_private_and_checked(Backend::Postgres, Bus::Nats).await;
}
