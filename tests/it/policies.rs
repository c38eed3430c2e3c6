//! Policies through the gateway: create, list, read, change and deactivate them (each change in the
//! audit chain), bad policies refused naming the field at fault, dry-run evaluation of token requests
//! (which rule decides, priorities, ties, inactive policies, the account default, agent attributes
//! looked up in agent-token), and another account's policies invisible, untouchable and never used.

use latchkey_storage::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Bus, TestMesh};

pub(crate) async fn call(
    t: &TestMesh,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = t.as_key(method, path, key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn create_policy(t: &TestMesh, key: &str, body: Value) -> String {
    let (status, policy) = call(t, Method::POST, "/v1/policies", key, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{policy}");
    policy["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn patch_policy(t: &TestMesh, key: &str, id: &str, body: Value) -> Value {
    let (status, policy) = call(t, Method::PATCH, &format!("/v1/policies/{id}"), key, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{policy}");
    policy
}

/// The first field a refused request names.
pub(crate) async fn refused_field(t: &TestMesh, method: Method, path: &str, key: &str, body: Value) -> String {
    let (status, problem) = call(t, method, path, key, Some(body.clone())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {problem}");
    assert_eq!(problem["code"], "VALIDATION_ERROR", "{problem}");
    problem["errors"][0]["field"].as_str().unwrap_or_default().to_owned()
}

async fn policy_lifecycle(backend: Backend, bus: Bus) {
    let t = TestMesh::start(backend, bus).await;
    let key = t.key.clone();

    let (status, first) = call(
        &t,
        Method::POST,
        "/v1/policies",
        &key,
        Some(json!({"name": "protect secrets", "rules": [{"match": {"scopes": ["secrets.*"]}, "effect": "deny"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let first_id = first["id"].as_str().unwrap().to_owned();
    assert!(first_id.starts_with("pol_"), "{first_id}");
    assert_eq!(first["priority"], 100, "the default priority");
    assert_eq!(first["is_active"], true, "active by default");
    assert_eq!(first["description"], Value::Null);
    assert_eq!(
        first["rules"],
        json!([{"match": {"scopes": ["secrets.*"]}, "effect": "deny"}])
    );
    assert!(first["created_at"].is_string());

    let throttle = json!({"type": "throttle", "limit": 10, "window_secs": 60, "per": "policy"});
    let second_id = create_policy(
        &t,
        &key,
        json!({"name": "slow writes", "description": "writes at a trickle", "priority": 500,
               "rules": [{"match": {"scopes": ["db.*.write"]}, "effect": throttle}], "is_active": true}),
    )
    .await;

    // Listed highest priority first; each readable on its own.
    let (status, list) = call(&t, Method::GET, "/v1/policies", &key, None).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second_id.as_str(), first_id.as_str()]);
    let (status, second) = call(&t, Method::GET, &format!("/v1/policies/{second_id}"), &key, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["rules"][0]["effect"], throttle);
    assert_eq!(second["description"], "writes at a trickle");

    // Partial updates; deactivation and reactivation; a patch that changes nothing changes nothing.
    let patched = patch_policy(
        &t,
        &key,
        &first_id,
        json!({"priority": 200, "description": "no secrets"}),
    )
    .await;
    assert_eq!(
        (patched["priority"].as_i64(), patched["name"].as_str()),
        (Some(200), Some("protect secrets"))
    );
    assert_eq!(patched["description"], "no secrets");
    let off = patch_policy(&t, &key, &first_id, json!({"is_active": false})).await;
    assert_eq!(off["is_active"], false);
    assert_eq!(
        patch_policy(&t, &key, &first_id, json!({"is_active": false})).await,
        off
    );
    patch_policy(&t, &key, &first_id, json!({"is_active": true})).await;
    let cleared = patch_policy(&t, &key, &first_id, json!({"description": null})).await;
    assert_eq!(cleared["description"], Value::Null);
    assert_eq!(cleared["priority"], 200);
    let (status, problem) = call(
        &t,
        Method::PATCH,
        "/v1/policies/pol_missing",
        &key,
        Some(json!({"priority": 1})),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NOT_FOUND"))
    );

    // Bad policies are refused naming the field; nothing is created or changed.
    let rule = json!({"effect": "deny"});
    for (body, field) in [
        (json!({"name": "p", "priority": 10001, "rules": [rule]}), "priority"),
        (json!({"name": "p", "priority": -1, "rules": [rule]}), "priority"),
        (json!({"name": "p", "rules": []}), "rules"),
        (json!({"name": "p"}), "rules"),
        (json!({"name": " ", "rules": [rule]}), "name"),
        (json!({"rules": [rule]}), "name"),
        (
            json!({"name": "p", "rules": [{"effect": "allowed"}]}),
            "rules[0].effect",
        ),
        (json!({"name": "p", "rules": [rule, {"match": {}}]}), "rules[1].effect"),
        (
            json!({"name": "p", "rules": [{"effect": {"type": "throttle", "limit": 0, "window_secs": 60}}]}),
            "rules[0].effect.limit",
        ),
        (
            json!({"name": "p", "rules": [{"match": {"time_windows": [{"start": "25:00", "end": "17:00"}]},
                                          "effect": "deny"}]}),
            "rules[0].match.time_windows[0].start",
        ),
        (
            json!({"name": "p", "rules": [{"match": {"scope": ["secrets.*"]}, "effect": "deny"}]}),
            "rules[0].match.scope",
        ),
        (
            json!({"name": "p", "rules": [{"match": {"scopes": ["sec*"]}, "effect": "deny"}]}),
            "rules[0].match.scopes[0]",
        ),
        // An object written as an array would otherwise read field by field: a rule matching all.
        (
            json!({"name": "p", "rules": [{"match": [null, null], "effect": "deny"}]}),
            "rules[0].match",
        ),
        (json!({"name": "p", "rules": [[null, "deny"]]}), "rules[0]"),
    ] {
        assert_eq!(
            refused_field(&t, Method::POST, "/v1/policies", &key, body.clone()).await,
            field,
            "{body}"
        );
    }
    let path = format!("/v1/policies/{first_id}");
    assert_eq!(
        refused_field(&t, Method::PATCH, &path, &key, json!({"priority": 10001})).await,
        "priority"
    );
    assert_eq!(
        refused_field(&t, Method::PATCH, &path, &key, json!({"rules": []})).await,
        "rules"
    );
    let (_, list) = call(&t, Method::GET, "/v1/policies", &key, None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    let (_, unchanged) = call(&t, Method::GET, &path, &key, None).await;
    assert_eq!(unchanged, cleared);

    // Another account sees none of it and can touch none of it.
    let (_, other_key) = t.mesh.create_account("Other").await.unwrap();
    let (_, list) = call(&t, Method::GET, "/v1/policies", &other_key, None).await;
    assert_eq!(list["data"], json!([]));
    for (method, body) in [(Method::GET, None), (Method::PATCH, Some(json!({"is_active": false})))] {
        let (status, problem) = call(&t, method, &path, &other_key, body).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("NOT_FOUND"))
        );
    }
    let (_, still) = call(&t, Method::GET, &path, &key, None).await;
    assert_eq!(still["is_active"], true);

    // Each change is in the chain once, with ids, names and priorities; refused ones left nothing.
    let entries = t.audit_entries_at_least(&key, 8).await;
    let policy_entries: Vec<&Value> = entries
        .iter()
        .filter(|e| e["type"].as_str().is_some_and(|t| t.starts_with("policy.")))
        .collect();
    let types: Vec<&str> = policy_entries.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "policy.created",
            "policy.created",
            "policy.updated",
            "policy.deactivated",
            "policy.updated",
            "policy.updated"
        ]
    );
    assert_eq!(policy_entries[0]["subject"], first_id.as_str());
    assert_eq!(policy_entries[0]["data"]["name"], "protect secrets");
    assert_eq!(policy_entries[1]["data"]["priority"], 500);
    assert_eq!(policy_entries[2]["data"]["changed"], json!(["description", "priority"]));
    assert_eq!(policy_entries[3]["data"]["policy_id"], first_id.as_str());
    assert_eq!(policy_entries[4]["data"]["changed"], json!(["is_active"]));
    assert_eq!(policy_entries[5]["data"]["changed"], json!(["description"]));
    t.stop().await;
}

#[tokio::test]
async fn policies_are_created_listed_changed_and_deactivated_on_sqlite() {
    policy_lifecycle(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn policies_are_created_listed_changed_and_deactivated_on_postgres_with_nats() {
    policy_lifecycle(Backend::Postgres, Bus::Nats).await;
}

mod evaluate;
