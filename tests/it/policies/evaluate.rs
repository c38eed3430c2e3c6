//! `POST /v1/policies/evaluate` and the account's default effect: the dry run answers which rule of
//! which policy decides a token request, with the agent's owner, provider and framework looked up in
//! agent-token; nothing is issued; another account's policies never take part.

use latchkey_storage::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{call, create_policy, patch_policy, refused_field};
use crate::support::{Bus, TestMesh};

async fn create_agent(t: &TestMesh, key: &str) -> String {
    let body = json!({"name": "reporter", "owner": "engineering", "model_provider": "OpenAI",
                      "framework": "langchain"});
    let (status, agent) = call(t, Method::POST, "/v1/agents", key, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    agent["id"].as_str().unwrap().to_owned()
}

/// The dry run's answer for `agent` asking for `scope`; it must succeed.
async fn evaluate(t: &TestMesh, key: &str, agent: &str, scope: &[&str]) -> Value {
    let body = json!({"agent_id": agent, "scope": scope, "ttl": 300, "intent": "nightly report"});
    let (status, answer) = call(t, Method::POST, "/v1/policies/evaluate", key, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

/// (effect, deciding policy id or null, would_issue)
fn outcome(answer: &Value) -> (String, Value, bool) {
    (
        answer["effect"].as_str().unwrap_or_default().to_owned(),
        answer["decision"]["policy_id"].clone(),
        answer["would_issue"].as_bool().unwrap_or_default(),
    )
}

fn allowed_by_default() -> (String, Value, bool) {
    ("allow".to_owned(), Value::Null, true)
}

async fn evaluation(backend: Backend, bus: Bus) {
    let t = TestMesh::start(backend, bus).await;
    let key = t.key.clone();
    let agent = create_agent(&t, &key).await;

    // No policies: the account default, allow.
    let answer = evaluate(&t, &key, &agent, &["docs.read"]).await;
    assert_eq!(outcome(&answer), allowed_by_default(), "{answer}");
    assert_eq!(answer["decision"]["rule_index"], Value::Null);
    assert!(
        answer["decision"]["reason"].as_str().unwrap().contains("default"),
        "{answer}"
    );

    // The default is the account's to choose.
    let (status, settings) = call(&t, Method::GET, "/v1/policies/settings", &key, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(settings, json!({"default_effect": "allow", "updated_at": null}));
    let (status, settings) = call(
        &t,
        Method::PUT,
        "/v1/policies/settings",
        &key,
        Some(json!({"default_effect": "deny"})),
    )
    .await;
    assert_eq!(
        (status, settings["default_effect"].as_str()),
        (StatusCode::OK, Some("deny"))
    );
    assert!(settings["updated_at"].is_string());
    assert_eq!(
        outcome(&evaluate(&t, &key, &agent, &["docs.read"]).await),
        ("deny".to_owned(), Value::Null, false)
    );
    let bad = json!({"default_effect": "maybe"});
    assert_eq!(
        refused_field(&t, Method::PUT, "/v1/policies/settings", &key, bad).await,
        "default_effect"
    );
    call(
        &t,
        Method::PUT,
        "/v1/policies/settings",
        &key,
        Some(json!({"default_effect": "allow"})),
    )
    .await;

    // An allow below a deny: the higher priority decides, and a request touching both is denied.
    let docs = create_policy(
        &t,
        &key,
        json!({"name": "docs for engineering", "rules": [
        {"match": {"scopes": ["docs.*"], "owners": ["engineering"]}, "effect": "allow"}]}),
    )
    .await;
    let secrets = create_policy(
        &t,
        &key,
        json!({"name": "no secrets", "priority": 500, "rules": [
        {"match": {"scopes": ["billing.*"]}, "effect": "allow"},
        {"match": {"scopes": ["secrets.*"]}, "effect": "deny"}]}),
    )
    .await;
    let answer = evaluate(&t, &key, &agent, &["docs.read"]).await;
    assert_eq!(outcome(&answer), ("allow".to_owned(), json!(docs), true), "{answer}");
    assert_eq!(answer["decision"]["rule_index"], 0);
    assert_eq!(answer["decision"]["policy_name"], "docs for engineering");
    let answer = evaluate(&t, &key, &agent, &["docs.read", "secrets.read"]).await;
    assert_eq!(outcome(&answer), ("deny".to_owned(), json!(secrets), false), "{answer}");
    assert_eq!(answer["decision"]["rule_index"], 1);
    assert!(
        answer["decision"]["reason"].as_str().unwrap().contains("secrets.read"),
        "{answer}"
    );

    // Equal priority: deny wins the tie, whichever was written first.
    let allow_reports = create_policy(
        &t,
        &key,
        json!({"name": "reports ok", "priority": 300, "rules": [
        {"match": {"scopes": ["reports.*"]}, "effect": "allow"}]}),
    )
    .await;
    let deny_reports = create_policy(
        &t,
        &key,
        json!({"name": "reports frozen", "priority": 300, "rules": [
        {"match": {"scopes": ["reports.*"]}, "effect": "deny"}]}),
    )
    .await;
    let answer = evaluate(&t, &key, &agent, &["reports.read"]).await;
    assert_eq!(
        outcome(&answer),
        ("deny".to_owned(), json!(deny_reports), false),
        "{answer}"
    );
    patch_policy(&t, &key, &deny_reports, json!({"is_active": false})).await;
    let answer = evaluate(&t, &key, &agent, &["reports.read"]).await;
    assert_eq!(
        outcome(&answer),
        ("allow".to_owned(), json!(allow_reports), true),
        "{answer}"
    );

    // An inactive policy takes no part: with "no secrets" off, nothing matches and the default applies.
    patch_policy(&t, &key, &secrets, json!({"is_active": false})).await;
    assert_eq!(
        outcome(&evaluate(&t, &key, &agent, &["secrets.read"]).await),
        allowed_by_default()
    );

    // Rules on the agent's attributes, as agent-token knows them (providers ignore case).
    let payments = create_policy(
        &t,
        &key,
        json!({"name": "payments need a person", "priority": 400, "rules": [
        {"match": {"frameworks": ["autogen"]}, "effect": "deny"},
        {"match": {"model_providers": ["openai"], "scopes": ["payments.*"]}, "effect": "require_approval"}]}),
    )
    .await;
    let answer = evaluate(&t, &key, &agent, &["payments.send"]).await;
    assert_eq!(
        outcome(&answer),
        ("require_approval".to_owned(), json!(payments), false),
        "{answer}"
    );
    assert_eq!(answer["decision"]["rule_index"], 1);

    // A throttle lets the request through (the dry run counts nothing) and names its budget.
    let limit = json!({"type": "throttle", "limit": 5, "window_secs": 60});
    let throttle = create_policy(
        &t,
        &key,
        json!({"name": "slow down", "priority": 50, "rules": [
        {"match": {"scopes": ["*"]}, "effect": limit}]}),
    )
    .await;
    let answer = evaluate(&t, &key, &agent, &["misc.read"]).await;
    assert_eq!(
        outcome(&answer),
        ("throttle".to_owned(), json!(throttle), true),
        "{answer}"
    );
    assert_eq!(
        answer["decision"]["throttle"],
        json!({"limit": 5, "window_secs": 60, "per": "agent"})
    );

    // A paused agent would get nothing, whatever the policies say.
    call(&t, Method::POST, &format!("/v1/agents/{agent}/pause"), &key, None).await;
    let answer = evaluate(&t, &key, &agent, &["docs.read"]).await;
    assert_eq!(outcome(&answer), ("allow".to_owned(), json!(docs), false), "{answer}");
    call(&t, Method::POST, &format!("/v1/agents/{agent}/resume"), &key, None).await;

    // An unknown agent is not found; a malformed request names its field.
    let body = json!({"agent_id": "agent_nobody", "scope": ["docs.read"]});
    let (status, problem) = call(&t, Method::POST, "/v1/policies/evaluate", &key, Some(body)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NOT_FOUND")),
        "{problem}"
    );
    for (body, field) in [
        (json!({"agent_id": agent, "scope": []}), "scope"),
        (json!({"agent_id": agent, "scope": ["docs read"]}), "scope[0]"),
        (json!({"scope": ["docs.read"]}), "agent_id"),
        (
            json!({"agent_id": agent, "scope": ["docs.read"], "target_service": "two words"}),
            "target_service",
        ),
    ] {
        assert_eq!(
            refused_field(&t, Method::POST, "/v1/policies/evaluate", &key, body.clone()).await,
            field,
            "{body}"
        );
    }

    // Another account: my agent is not found, and its own agent meets only its own policies (none,
    // so its default) even where mine would deny.
    let (_, other_key) = t.mesh.create_account("Other").await.unwrap();
    let body = json!({"agent_id": agent, "scope": ["docs.read"]});
    let (status, _) = call(&t, Method::POST, "/v1/policies/evaluate", &other_key, Some(body)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let their_agent = create_agent(&t, &other_key).await;
    for scope in ["payments.send", "reports.read", "misc.read"] {
        let answer = evaluate(&t, &other_key, &their_agent, &[scope]).await;
        assert_eq!(outcome(&answer), allowed_by_default(), "{scope}: {answer}");
    }
    call(
        &t,
        Method::PUT,
        "/v1/policies/settings",
        &other_key,
        Some(json!({"default_effect": "deny"})),
    )
    .await;
    let answer = evaluate(&t, &key, &agent, &["secrets.read"]).await;
    assert_eq!(
        outcome(&answer).0,
        "throttle",
        "my account keeps its own default and policies: {answer}"
    );

    // A dry run issues nothing: no token event reached the chain.
    let entries = t.audit_entries(&key).await;
    assert!(
        entries
            .iter()
            .all(|e| !e["type"].as_str().unwrap_or_default().starts_with("token.")),
        "{entries:?}"
    );
    t.stop().await;
}

#[tokio::test]
async fn evaluation_names_the_deciding_rule_on_sqlite() {
    evaluation(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn evaluation_names_the_deciding_rule_on_postgres_with_nats() {
    evaluation(Backend::Postgres, Bus::Nats).await;
}
