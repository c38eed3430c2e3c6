//! Agent tokens through the gateway: issued to an active agent with the account's key or the agent's
//! own secret, verified offline by an independent JWT library from the JWKS alone, refused for bad
//! input, paused, revoked, unknown and other accounts' agents, and recorded in the audit chain.

use jsonwebtoken::jwk::JwkSet;
use latchkey_storage::Backend;
use latchkey_test_support::mesh::verify_offline;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Bus, TestMesh};

async fn post(t: &TestMesh, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
    let response = t.as_key(Method::POST, path, key).json(&body).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn tokens_are_issued_and_verify_offline(backend: Backend, bus: Bus) {
    let t = TestMesh::start(backend, bus).await;
    let key = t.key.clone();
    let (_, agent) = post(&t, "/v1/agents", &key, json!({"name": "worker", "owner": "eng"})).await;
    let agent_id = agent["id"].as_str().unwrap().to_owned();
    let agent_secret = agent["secret_key"].as_str().unwrap().to_owned();

    let response = t.http.get(t.url("/.well-known/jwks.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let jwks_text = response.text().await.unwrap();
    assert!(!jwks_text.contains("\"d\""), "no private member: {jwks_text}");
    let jwks: JwkSet = serde_json::from_str(&jwks_text).unwrap();
    // One token key and nothing else: the audit checkpoint keys (kids `audit-…`) are published
    // apart, at /v1/audit/checkpoints/jwks.json, so no token verifier trusts them.
    assert_eq!(jwks.keys.len(), 1, "{jwks_text}");
    assert!(
        !jwks.keys[0]
            .common
            .key_id
            .as_deref()
            .unwrap_or_default()
            .starts_with("audit-"),
        "{jwks_text}"
    );

    // With the account's key.
    let (status, issued) = post(
        &t,
        "/v1/tokens",
        &key,
        json!({"agent_id": agent_id, "scope": ["secrets.read", "db.write"], "ttl": 120,
               "target_service": "billing", "intent": "nightly export"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    assert_eq!(issued["agent_id"], agent_id.as_str());
    assert_eq!(issued["scope"], json!(["secrets.read", "db.write"]));
    let claims = verify_offline(&jwks, issued["token"].as_str().unwrap(), "billing");
    assert_eq!(claims["sub"], agent_id.as_str());
    assert_eq!(claims["account"], t.account_id.as_str());
    assert_eq!(claims["intent"], "nightly export");
    assert_eq!(claims["jti"], issued["token_id"]);
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 120);

    // With the agent's own secret, for itself only; defaults apply.
    let (status, own) = post(
        &t,
        "/v1/tokens",
        &agent_secret,
        json!({"agent_id": agent_id, "scope": ["db.*"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{own}");
    let claims = verify_offline(&jwks, own["token"].as_str().unwrap(), "any");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 300);
    assert_eq!(claims["aud"], "any");
    let (_, other_agent) = post(&t, "/v1/agents", &key, json!({"name": "other", "owner": "eng"})).await;
    let (status, problem) = post(
        &t,
        "/v1/tokens",
        &agent_secret,
        json!({"agent_id": other_agent["id"], "scope": ["db.read"]}),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("FORBIDDEN"))
    );

    // Bad input names the field.
    for (body, field) in [
        (json!({"agent_id": agent_id, "scope": ["db.read"], "ttl": 86401}), "ttl"),
        (json!({"agent_id": agent_id, "scope": ["db.read"], "ttl": 0}), "ttl"),
        (json!({"agent_id": agent_id, "scope": []}), "scope"),
        (json!({"agent_id": agent_id, "scope": ["*.read"]}), "scope[0]"),
        (json!({"agent_id": agent_id, "scope": "db.read"}), "scope"),
        (
            json!({"agent_id": agent_id, "scope": ["db.read"], "ttl": "long"}),
            "ttl",
        ),
        (json!({"scope": ["db.read"]}), "agent_id"),
    ] {
        let (status, problem) = post(&t, "/v1/tokens", &key, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
    }
    let (status, _) = post(
        &t,
        "/v1/tokens",
        &key,
        json!({"agent_id": "agent_nosuchagent00", "scope": ["a"]}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Paused and revoked agents get nothing; neither does another account.
    let (_, other_key) = t.mesh.create_account("Other").await.unwrap();
    let (status, _) = post(
        &t,
        "/v1/tokens",
        &other_key,
        json!({"agent_id": agent_id, "scope": ["a"]}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another account's agent is invisible");
    post(&t, &format!("/v1/agents/{agent_id}/pause"), &key, json!({})).await;
    let (status, problem) = post(&t, "/v1/tokens", &key, json!({"agent_id": agent_id, "scope": ["a"]})).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("FORBIDDEN")),
        "{problem}"
    );
    post(&t, &format!("/v1/agents/{agent_id}/revoke"), &key, json!({})).await;
    let (status, _) = post(
        &t,
        "/v1/tokens",
        &agent_secret,
        json!({"agent_id": agent_id, "scope": ["a"]}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Two issues, each in the chain with its decision id; never the token.
    // account, bootstrap key, two agents, two issues, pause, revoke.
    let entries = t.audit_entries_at_least(&key, 8).await;
    let issued_entries: Vec<&Value> = entries.iter().filter(|e| e["type"] == "token.issued").collect();
    assert_eq!(issued_entries.len(), 2, "{entries:?}");
    assert_eq!(issued_entries[0]["decision_id"], issued["decision_id"]);
    assert_eq!(issued_entries[0]["subject"], issued["token_id"]);
    let log = serde_json::to_string(&entries).unwrap();
    assert!(!log.contains(issued["token"].as_str().unwrap()) && !log.contains(&agent_secret));
    t.stop().await;
}

#[tokio::test]
async fn tokens_are_issued_and_verify_offline_on_sqlite() {
    tokens_are_issued_and_verify_offline(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn tokens_are_issued_and_verify_offline_on_postgres_with_nats() {
    tokens_are_issued_and_verify_offline(Backend::Postgres, Bus::Nats).await;
}
