//! Who gets which token, tried as an attacker would: wildcard requests against restricting rules,
//! redemptions that ask for more than was approved, delegations that skip policy or loop back to
//! their delegator, agents flooding with their own secret key or with held requests, and a resume
//! racing a revoke.

use std::time::Duration;

use latchkey_agent_token::AgentTokenConfig;
use latchkey_storage::Backend;
use latchkey_test_support::eventually;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    approvals::create_agent,
    policies::{call, create_policy},
    support::{Bus, TestMesh, gateway_config},
};

/// `POST` with an optional API key (`None`: the body is the credential, or `bearer` is).
async fn post(t: &TestMesh, path: &str, bearer: Option<&str>, body: Value) -> (StatusCode, Value, Option<u64>) {
    let request = match bearer {
        Some(bearer) => t.as_key(Method::POST, path, bearer),
        None => t.http.post(t.url(path)),
    };
    let response = request.json(&body).send().await.unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok());
    (status, response.json().await.unwrap_or(Value::Null), retry_after)
}

async fn wildcard_requests_meet_the_rules_on_what_they_reach(backend: Backend, bus: Bus) {
    let t = TestMesh::start(backend, bus).await;
    let key = t.key.clone();
    let agent = create_agent(&t, &key, "crawler").await;
    create_policy(
        &t,
        &key,
        json!({"name": "no secrets", "rules": [{"match": {"scopes": ["secrets.*"]}, "effect": "deny"}]}),
    )
    .await;
    create_policy(
        &t,
        &key,
        json!({"name": "no payroll reads", "rules": [{"match": {"scopes": ["payroll.read"]}, "effect": "deny"}]}),
    )
    .await;
    // The review's reproduction: `*` answered 201 and then verified for `secrets.read`.
    for scope in [json!(["*"]), json!(["secrets.*"]), json!(["docs.read", "payroll.*"])] {
        let (status, problem, _) = post(&t, "/v1/tokens", Some(&key), json!({"agent_id": agent, "scope": scope})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{scope}: {problem}");
        assert_eq!(problem["code"], "FORBIDDEN");
        assert!(problem.get("token").is_none());
    }
    // What the rules do not reach is still issued, and verifies only for what it grants.
    let (status, issued, _) = post(
        &t,
        "/v1/tokens",
        Some(&key),
        json!({"agent_id": agent, "scope": ["docs.*"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let token = issued["token"].as_str().unwrap();
    for (required, valid) in [("docs.read", true), ("secrets.read", false)] {
        let (_, verdict, _) = post(
            &t,
            "/v1/tokens/verify",
            None,
            json!({"token": token, "required_scope": [required]}),
        )
        .await;
        assert_eq!(verdict["valid"], valid, "{required}: {verdict}");
    }
    // A target service is a name: `*` would be a token for no service a rule names.
    let (status, problem, _) = post(
        &t,
        "/v1/tokens",
        Some(&key),
        json!({"agent_id": agent, "scope": ["docs.read"], "target_service": "*"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "target_service");
    // The dry run answers the same.
    let (status, decision) = call(
        &t,
        Method::POST,
        "/v1/policies/evaluate",
        &key,
        Some(json!({"agent_id": agent, "scope": ["*"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{decision}");
    assert_eq!(decision["effect"], "deny", "{decision}");
    t.stop().await;
}

#[tokio::test]
async fn wildcard_requests_meet_the_rules_on_what_they_reach_on_sqlite() {
    wildcard_requests_meet_the_rules_on_what_they_reach(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn wildcard_requests_meet_the_rules_on_what_they_reach_on_postgres_with_nats() {
    wildcard_requests_meet_the_rules_on_what_they_reach(Backend::Postgres, Bus::Nats).await;
}

async fn a_redemption_yields_exactly_what_was_approved(backend: Backend, bus: Bus) {
    let t = TestMesh::start(backend, bus).await;
    let key = t.key.clone();
    let agent = create_agent(&t, &key, "deployer").await;
    create_policy(
        &t,
        &key,
        json!({"name": "a human first", "rules": [{"match": {"scopes": ["deploy.*"]}, "effect": "require_approval"}]}),
    )
    .await;
    let held_request = json!({"agent_id": agent, "scope": ["deploy.prod"], "ttl": 120, "intent": "ship 1.2"});
    let (status, held, _) = post(&t, "/v1/tokens", Some(&key), held_request).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{held}");
    let approval_id = held["approval_id"].as_str().unwrap().to_owned();
    let (status, _) = call(
        &t,
        Method::POST,
        &format!("/v1/approvals/{approval_id}/approve"),
        &key,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Asking for more than was approved: a longer life, another intent. Refused, and the approval
    // is still there to redeem.
    for (more, what) in [
        (json!({"ttl": 86400}), "ttl"),
        (json!({"intent": "drop the database"}), "intent"),
    ] {
        let mut body = json!({"agent_id": agent, "scope": ["deploy.prod"], "approval_id": approval_id});
        body.as_object_mut().unwrap().extend(more.as_object().unwrap().clone());
        let (status, problem, _) = post(&t, "/v1/tokens", Some(&key), body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {problem}");
        assert!(problem["detail"].as_str().unwrap().contains(what), "{problem}");
    }
    // Without ttl and intent: the token carries the approved ones.
    let (status, issued, _) = post(
        &t,
        "/v1/tokens",
        Some(&key),
        json!({"agent_id": agent, "scope": ["deploy.prod"], "approval_id": approval_id}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let (_, verdict, _) = post(&t, "/v1/tokens/verify", None, json!({"token": issued["token"]})).await;
    assert_eq!(verdict["valid"], true, "{verdict}");
    let claims = &verdict["claims"];
    assert_eq!(claims["intent"], "ship 1.2", "{claims}");
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(lifetime, 120, "{claims}");
    t.stop().await;
}

#[tokio::test]
async fn a_redemption_yields_exactly_what_was_approved_on_sqlite() {
    a_redemption_yields_exactly_what_was_approved(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn a_redemption_yields_exactly_what_was_approved_on_postgres_with_nats() {
    a_redemption_yields_exactly_what_was_approved(Backend::Postgres, Bus::Nats).await;
}

async fn delegation_is_a_token_issue_for_the_sub_agent(backend: Backend, bus: Bus) {
    let t = TestMesh::start(backend, bus).await;
    let key = t.key.clone();
    let lead = create_agent(&t, &key, "lead").await;
    let helper = create_agent(&t, &key, "helper").await;
    let intern = create_agent(&t, &key, "intern").await;
    create_policy(
        &t,
        &key,
        json!({"name": "helpers never touch billing", "rules": [
            {"match": {"agent_ids": [helper], "scopes": ["billing.*"]}, "effect": "deny"},
            {"match": {"agent_ids": [intern]}, "effect": "require_approval"}]}),
    )
    .await;
    let (status, issued, _) = post(
        &t,
        "/v1/tokens",
        Some(&key),
        json!({"agent_id": lead, "scope": ["billing.*", "docs.*"], "ttl": 600}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let token = issued["token"].as_str().unwrap().to_owned();
    let delegate = |body: Value| post(&t, "/v1/tokens/delegate", None, body);

    // The lead may hold billing; the helper may not get it by delegation either.
    let (status, problem, _) = delegate(json!({"token": token, "scope": ["billing.read"], "sub_agent": helper})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("denied by"), "{problem}");
    // Held for a person when the sub-agent's requests are.
    let (status, held, _) = delegate(json!({"token": token, "scope": ["docs.read"], "sub_agent": intern})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{held}");
    assert!(held["approval_id"].as_str().unwrap().starts_with("apr_"), "{held}");
    assert!(held.get("token").is_none());
    // Never to oneself; never more than 50 scopes; never a malformed one.
    let (status, problem, _) = delegate(json!({"token": token, "scope": ["docs.read"], "sub_agent": lead})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "sub_agent", "{problem}");
    let many: Vec<String> = (0..51).map(|i| format!("docs.page{i}")).collect();
    let (status, problem, _) = delegate(json!({"token": token, "scope": many, "sub_agent": helper})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "scope", "{problem}");
    let (status, problem, _) = delegate(json!({"token": token, "scope": ["*.read"], "sub_agent": helper})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "scope[0]", "{problem}");
    // What policy allows is delegated, and recorded as a delegation.
    let (status, delegated, _) = delegate(json!({"token": token, "scope": ["docs.read"], "sub_agent": helper})).await;
    assert_eq!(status, StatusCode::CREATED, "{delegated}");
    let recorded = eventually(Duration::from_secs(30), || {
        let (t, key, jti) = (&t, key.clone(), delegated["token_id"].clone());
        async move {
            t.audit_entries(&key)
                .await
                .iter()
                .any(|e| e["type"] == "token.delegated" && e["subject"] == jti)
        }
    })
    .await;
    assert!(recorded, "token.delegated reaches the audit chain");
    let entries = t.audit_entries(&key).await;
    let entry = entries
        .iter()
        .find(|e| e["type"] == "token.delegated")
        .expect("a token.delegated audit entry");
    assert_eq!(entry["data"]["agent_id"], helper.as_str());
    assert_eq!(entry["data"]["delegated_by"], lead.as_str());
    assert_eq!(entry["data"]["parent_jti"], issued["token_id"]);
    assert_eq!(entry["data"]["depth"], 1);
    let denied = entries.iter().filter(|e| e["type"] == "token.denied").count();
    assert_eq!(denied, 1, "the refused delegation is audited: {entries:?}");
    t.stop().await;
}

#[tokio::test]
async fn delegation_is_a_token_issue_for_the_sub_agent_on_sqlite() {
    delegation_is_a_token_issue_for_the_sub_agent(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn delegation_is_a_token_issue_for_the_sub_agent_on_postgres_with_nats() {
    delegation_is_a_token_issue_for_the_sub_agent(Backend::Postgres, Bus::Nats).await;
}

#[tokio::test]
async fn agents_asking_with_their_own_secret_and_delegating_tokens_are_rate_limited() {
    let settings = latchkey::mesh::ServiceSettings {
        gateway: gateway_config(),
        agent_token: AgentTokenConfig {
            agent_rate_per_second: 1,
            agent_rate_burst: 3,
            delegation_rate_per_second: 1,
            delegation_rate_burst: 2,
            ..AgentTokenConfig::default()
        },
        ..latchkey::mesh::ServiceSettings::default()
    };
    let t = TestMesh::start_with_settings(Backend::Sqlite, Bus::Local, settings).await;
    let key = t.key.clone();
    let (status, created) = call(
        &t,
        Method::POST,
        "/v1/agents",
        &key,
        Some(json!({"name": "noisy", "owner": "o"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let agent = created["id"].as_str().unwrap().to_owned();
    let secret = created["secret_key"].as_str().unwrap().to_owned();
    let helper = create_agent(&t, &key, "helper").await;
    let deputy = create_agent(&t, &key, "deputy").await;
    let ask = json!({"agent_id": agent, "scope": ["docs.read"], "ttl": 600});

    // The agent's own key is counted (no API key limit sees it), and so is the account's key for it.
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let (status, issued, _) = post(&t, "/v1/tokens", Some(&secret), ask.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{issued}");
        tokens.push(issued["token"].as_str().unwrap().to_owned());
    }
    for bearer in [&secret, &key] {
        let (status, problem, retry_after) = post(&t, "/v1/tokens", Some(bearer), ask.clone()).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{problem}");
        assert_eq!(problem["code"], "RATE_LIMITED");
        assert!(retry_after.is_some_and(|s| s >= 1), "{retry_after:?}");
    }
    // Another agent of the account has its own allowance.
    let (status, issued, _) = post(
        &t,
        "/v1/tokens",
        Some(&key),
        json!({"agent_id": helper, "scope": ["docs.read"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");

    // One delegating token delegates twice, then waits; another token of the agent is not held up.
    for _ in 0..2 {
        let body = json!({"token": tokens[0], "scope": ["docs.read"], "sub_agent": deputy, "ttl": 60});
        let (status, delegated, _) = post(&t, "/v1/tokens/delegate", None, body).await;
        assert_eq!(status, StatusCode::CREATED, "{delegated}");
    }
    let body = json!({"token": tokens[0], "scope": ["docs.read"], "sub_agent": deputy, "ttl": 60});
    let (status, problem, _) = post(&t, "/v1/tokens/delegate", None, body).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("delegating token"),
        "{problem}"
    );
    let body = json!({"token": tokens[1], "scope": ["docs.read"], "sub_agent": deputy, "ttl": 60});
    let (status, delegated, _) = post(&t, "/v1/tokens/delegate", None, body).await;
    assert_eq!(status, StatusCode::CREATED, "{delegated}");
    t.stop().await;
}

async fn pending_approvals_per_agent_are_bounded(backend: Backend, bus: Bus) {
    let t = TestMesh::start(backend, bus).await;
    let key = t.key.clone();
    let agent = create_agent(&t, &key, "pesterer").await;
    let other = create_agent(&t, &key, "patient").await;
    create_policy(
        &t,
        &key,
        json!({"name": "hold everything", "rules": [{"effect": "require_approval"}]}),
    )
    .await;
    let bound = latchkey_policy::MAX_PENDING_APPROVALS_PER_AGENT;
    for i in 0..bound {
        let body = json!({"agent_id": agent, "scope": [format!("docs.page{i}")]});
        let (status, held, _) = post(&t, "/v1/tokens", Some(&key), body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{i}: {held}");
    }
    let (status, problem, retry_after) = post(
        &t,
        "/v1/tokens",
        Some(&key),
        json!({"agent_id": agent, "scope": ["docs.more"]}),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{problem}");
    assert_eq!(problem["code"], "RATE_LIMITED");
    assert!(retry_after.is_some_and(|s| s >= 1), "{retry_after:?}");
    let (_, page) = call(&t, Method::GET, "/v1/approvals?status=pending&limit=100", &key, None).await;
    assert_eq!(page["total"], bound, "the refused request held nothing: {page}");
    // Deciding one makes room; another agent was never held up.
    let first = page["data"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = call(&t, Method::POST, &format!("/v1/approvals/{first}/deny"), &key, None).await;
    assert_eq!(status, StatusCode::OK);
    for who in [&agent, &other] {
        let (status, held, _) = post(
            &t,
            "/v1/tokens",
            Some(&key),
            json!({"agent_id": who, "scope": ["docs.more"]}),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{held}");
    }
    t.stop().await;
}

#[tokio::test]
async fn pending_approvals_per_agent_are_bounded_on_sqlite() {
    pending_approvals_per_agent_are_bounded(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn pending_approvals_per_agent_are_bounded_on_postgres_with_nats() {
    pending_approvals_per_agent_are_bounded(Backend::Postgres, Bus::Nats).await;
}

async fn a_revoked_agent_never_comes_back(backend: Backend, bus: Bus) {
    let t = TestMesh::start(backend, bus).await;
    let key = t.key.clone();
    // Each round: a paused agent, then a resume and a revoke at once on separate connections.
    // Whatever the order, the agent ends revoked.
    for round in 0..12 {
        let agent = create_agent(&t, &key, &format!("racer {round}")).await;
        let (status, _) = call(&t, Method::POST, &format!("/v1/agents/{agent}/pause"), &key, None).await;
        assert_eq!(status, StatusCode::OK);
        let (resume_path, revoke_path) = (
            format!("/v1/agents/{agent}/resume"),
            format!("/v1/agents/{agent}/revoke"),
        );
        let resume = call(&t, Method::POST, &resume_path, &key, None);
        let revoke = call(&t, Method::POST, &revoke_path, &key, None);
        let ((resumed, _), (revoked, _)) = tokio::join!(resume, revoke);
        assert_eq!(revoked, StatusCode::OK, "round {round}");
        assert!(
            resumed == StatusCode::OK || resumed == StatusCode::UNPROCESSABLE_ENTITY,
            "round {round}: {resumed}"
        );
        let (_, now) = call(&t, Method::GET, &format!("/v1/agents/{agent}"), &key, None).await;
        assert_eq!(now["status"], "revoked", "round {round}: {now}");
        let (status, _, _) = post(&t, "/v1/tokens", Some(&key), json!({"agent_id": agent, "scope": ["a"]})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "round {round}");
    }
    t.stop().await;
}

#[tokio::test]
async fn a_revoked_agent_never_comes_back_on_sqlite() {
    a_revoked_agent_never_comes_back(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn a_revoked_agent_never_comes_back_on_postgres_with_nats() {
    a_revoked_agent_never_comes_back(Backend::Postgres, Bus::Nats).await;
}
