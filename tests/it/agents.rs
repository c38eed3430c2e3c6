//! Agent identities through the gateway: create one (its secret shown once), list and filter,
//! pause, resume and revoke it, and see each step in the audit chain; never another account's.

use latchkey_storage::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Bus, TestMesh};

async fn call(t: &TestMesh, method: Method, path: &str, key: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = t.as_key(method, path, key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn agent_lifecycle(backend: Backend, bus: Bus) {
    let t = TestMesh::start(backend, bus).await;
    let key = t.key.clone();

    let (status, created) = call(
        &t,
        Method::POST,
        "/v1/agents",
        &key,
        Some(
            json!({"name": "data-processor", "owner": "engineering", "model_provider": "openai",
                    "model_name": "gpt-4", "framework": "langchain"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("agent_"), "{id}");
    let secret = created["secret_key"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("sk_live_"), "{secret}");
    assert_eq!(created["name"], "data-processor");
    assert_eq!(created["owner"], "engineering");
    assert_eq!(created["status"], "active");
    assert!(created["created_at"].is_string());
    assert_eq!(created["description"], Value::Null);

    // Missing required fields name themselves; nothing is created.
    let (status, problem) = call(&t, Method::POST, "/v1/agents", &key, Some(json!({"name": "x"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["errors"][0]["field"], "owner", "{problem}");
    let (status, problem) = call(
        &t,
        Method::POST,
        "/v1/agents",
        &key,
        Some(json!({"name": " ", "owner": "o"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["errors"][0]["field"], "name", "{problem}");

    let (_, second) = call(
        &t,
        Method::POST,
        "/v1/agents",
        &key,
        Some(json!({"name": "second", "owner": "ops"})),
    )
    .await;
    let second_id = second["id"].as_str().unwrap().to_owned();

    // The secret never comes back.
    let (status, fetched) = call(&t, Method::GET, &format!("/v1/agents/{id}"), &key, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["model_name"], "gpt-4");
    assert!(!fetched.to_string().contains(&secret));

    // Pause (twice: the second changes nothing), resume, pause again, then revoke.
    for (action, expected) in [
        ("pause", "paused"),
        ("pause", "paused"),
        ("resume", "active"),
        ("pause", "paused"),
    ] {
        let (status, agent) = call(&t, Method::POST, &format!("/v1/agents/{id}/{action}"), &key, None).await;
        assert_eq!(
            (status, agent["status"].as_str()),
            (StatusCode::OK, Some(expected)),
            "{action}"
        );
    }
    let (status, page) = call(&t, Method::GET, "/v1/agents?status=paused", &key, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (page["total"].as_u64(), page["data"][0]["id"].as_str()),
        (Some(1), Some(id.as_str()))
    );
    let (status, revoked) = call(&t, Method::DELETE, &format!("/v1/agents/{id}/revoke"), &key, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(revoked["status"], "revoked");
    assert!(revoked["revoked_at"].is_string());
    let (status, problem) = call(&t, Method::POST, &format!("/v1/agents/{id}/resume"), &key, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "UNPROCESSABLE");
    let (status, _) = call(&t, Method::POST, &format!("/v1/agents/{id}/revoke"), &key, None).await;
    assert_eq!(status, StatusCode::OK, "revoking again is harmless");

    // Paging and filtering.
    let (_, page) = call(&t, Method::GET, "/v1/agents?limit=1&offset=1", &key, None).await;
    assert_eq!(page["total"], 2);
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["id"], second_id.as_str());
    let (_, page) = call(&t, Method::GET, "/v1/agents?status=revoked", &key, None).await;
    assert_eq!(page["data"][0]["id"], id.as_str());
    for bad in ["status=gone", "limit=0", "limit=101", "offset=-1", "colour=red"] {
        let (status, problem) = call(&t, Method::GET, &format!("/v1/agents?{bad}"), &key, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {problem}");
        assert_eq!(problem["code"], "VALIDATION_ERROR");
    }

    // Another account sees none of it and can touch none of it.
    let (_, other_key) = t.mesh.create_account("Other").await.unwrap();
    let (_, page) = call(&t, Method::GET, "/v1/agents", &other_key, None).await;
    assert_eq!(page["total"], 0);
    for (method, path) in [
        (Method::GET, format!("/v1/agents/{second_id}")),
        (Method::POST, format!("/v1/agents/{second_id}/pause")),
        (Method::POST, format!("/v1/agents/{second_id}/revoke")),
    ] {
        let (status, problem) = call(&t, method, &path, &other_key, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(problem["code"], "NOT_FOUND");
    }
    let (_, still) = call(&t, Method::GET, &format!("/v1/agents/{second_id}"), &key, None).await;
    assert_eq!(still["status"], "active");

    // Each change is in the chain, exactly once: the idempotent pause and the repeated revoke add nothing.
    let entries = t.audit_entries_at_least(&key, 8).await;
    assert_eq!(entries.len(), 8);
    let types: Vec<&str> = entries[2..].iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "agent.created",
            "agent.created",
            "agent.paused",
            "agent.resumed",
            "agent.paused",
            "agent.revoked"
        ]
    );
    assert!(
        !serde_json::to_string(&entries).unwrap().contains(&secret),
        "no secret in the audit log"
    );
    t.stop().await;
}

#[tokio::test]
async fn an_agent_lives_and_is_revoked_on_sqlite() {
    agent_lifecycle(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn an_agent_lives_and_is_revoked_on_postgres_with_nats() {
    agent_lifecycle(Backend::Postgres, Bus::Nats).await;
}
