//! Telegram MTProto sessions through the gateway: `PUT /v1/connections/telegram` keeps the
//! session string, api id and api hash; `POST /tokens/fetch {"provider":"telegram"}` answers them
//! as Akhrot documents (`accessToken` is the session string, `apiId`, `apiHash`, `type: mtproto`);
//! every other answer is masked, bad input is named field by field, another account sees nothing,
//! and neither secret reaches the logs.

use latchkey_storage::Backend;
use latchkey_test_support::captured;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Bus, TestMesh};

const SESSION: &str = "1BVtsOKABu3nC-telegram-session-canary_5JqQ0Hq8ZKX1c2VvbG9uZ3N0cmluZw==";
const API_HASH: &str = "b5e9c0de0123456789abcdef7a6f1d2e";

async fn put(mesh: &TestMesh, key: &str, body: Value) -> reqwest::Response {
    mesh.as_key(Method::PUT, "/v1/connections/telegram", key)
        .json(&body)
        .send()
        .await
        .expect("PUT /v1/connections/telegram")
}

async fn fetch(mesh: &TestMesh, key: &str) -> reqwest::Response {
    mesh.as_key(Method::POST, "/tokens/fetch", key)
        .json(&json!({ "provider": "telegram" }))
        .send()
        .await
        .expect("POST /tokens/fetch")
}

async fn a_telegram_session_is_stored_and_fetched(backend: Backend, bus: Bus) {
    captured::install();
    let mesh = TestMesh::start(backend, bus).await;
    let stored = put(
        &mesh,
        &mesh.key,
        json!({ "sessionString": SESSION, "apiId": 123456, "apiHash": API_HASH }),
    )
    .await;
    assert_eq!(stored.status(), 200);
    let stored: Value = stored.json().await.expect("json");
    assert_eq!(stored["provider"], "telegram");
    assert_eq!(stored["type"], "mtproto");
    assert_eq!(stored["apiId"], "123456");
    assert_eq!(stored["apiHashLast4"], "1d2e");
    assert_eq!(stored["hasSessionString"], true);
    assert!(
        stored["updatedAt"].as_str().is_some_and(|at| at.ends_with('Z')),
        "{stored}"
    );
    let text = stored.to_string();
    assert!(!text.contains("canary") && !text.contains(API_HASH), "masked: {text}");

    let fetched = fetch(&mesh, &mesh.key).await;
    assert_eq!(fetched.status(), 200);
    let fetched: Value = fetched.json().await.expect("json");
    assert_eq!(fetched["status"], "success");
    assert_eq!(fetched["data"]["accessToken"], SESSION);
    assert_eq!(fetched["data"]["apiId"], "123456");
    assert_eq!(fetched["data"]["apiHash"], API_HASH);
    assert_eq!(fetched["data"]["type"], "mtproto");

    let summary: Value = mesh
        .as_key(Method::GET, "/v1/connections/telegram", &mesh.key)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(summary, stored);

    // Another account: nothing stored, nothing to fetch or remove.
    let (_, other) = mesh.mesh.create_account("Other account").await.expect("account");
    for method in [Method::GET, Method::DELETE] {
        let answer = mesh
            .as_key(method.clone(), "/v1/connections/telegram", &other)
            .send()
            .await
            .expect("another account");
        assert_eq!(answer.status(), 404, "{method}");
        let body: Value = answer.json().await.expect("json");
        assert_eq!(body["code"], "INTEGRATION_NOT_FOUND");
    }
    assert_eq!(fetch(&mesh, &other).await.status(), 404);

    // The api id as digits; then the session is removed.
    let replaced = put(
        &mesh,
        &mesh.key,
        json!({ "sessionString": "1Another", "apiId": "654321", "apiHash": API_HASH }),
    )
    .await;
    assert_eq!(replaced.status(), 200);
    let removed = mesh
        .as_key(Method::DELETE, "/v1/connections/telegram", &mesh.key)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(removed.status(), 204);
    assert_eq!(fetch(&mesh, &mesh.key).await.status(), 404);

    // The vault announced each write and the removal: the audit log has them, with no secret.
    let entries = latchkey_test_support::read_until(
        std::time::Duration::from_secs(30),
        || mesh.audit_entries(&mesh.key),
        |entries| {
            entries
                .iter()
                .filter(|entry| entry["type"] == "credential.updated" && entry["subject"] == "telegram")
                .count()
                >= 3
        },
    )
    .await;
    let text = serde_json::to_string(&entries).expect("json");
    assert!(!text.contains("canary") && !text.contains(API_HASH));
    for (what, secret) in [("session string", SESSION), ("api hash", API_HASH)] {
        captured::assert_not_captured(what, secret);
    }
    mesh.stop().await;
}

#[tokio::test]
async fn a_telegram_session_is_stored_and_fetched_on_sqlite() {
    a_telegram_session_is_stored_and_fetched(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn a_telegram_session_is_stored_and_fetched_on_postgres_and_nats() {
    a_telegram_session_is_stored_and_fetched(Backend::Postgres, Bus::Nats).await;
}

#[tokio::test]
async fn every_field_of_a_telegram_session_is_checked() {
    let mesh = TestMesh::start(Backend::Sqlite, Bus::Local).await;
    let long = "s".repeat(4097);
    for (body, field) in [
        (json!({ "apiId": 1, "apiHash": API_HASH }), "sessionString"),
        (
            json!({ "sessionString": "", "apiId": 1, "apiHash": API_HASH }),
            "sessionString",
        ),
        (
            json!({ "sessionString": long, "apiId": 1, "apiHash": API_HASH }),
            "sessionString",
        ),
        (
            json!({ "sessionString": "a b", "apiId": 1, "apiHash": API_HASH }),
            "sessionString",
        ),
        (
            json!({ "sessionString": 7, "apiId": 1, "apiHash": API_HASH }),
            "sessionString",
        ),
        (json!({ "sessionString": SESSION, "apiHash": API_HASH }), "apiId"),
        (
            json!({ "sessionString": SESSION, "apiId": 0, "apiHash": API_HASH }),
            "apiId",
        ),
        (
            json!({ "sessionString": SESSION, "apiId": -3, "apiHash": API_HASH }),
            "apiId",
        ),
        (
            json!({ "sessionString": SESSION, "apiId": 1.5, "apiHash": API_HASH }),
            "apiId",
        ),
        (
            json!({ "sessionString": SESSION, "apiId": 2_147_483_648_u64, "apiHash": API_HASH }),
            "apiId",
        ),
        (
            json!({ "sessionString": SESSION, "apiId": "12a", "apiHash": API_HASH }),
            "apiId",
        ),
        (
            json!({ "sessionString": SESSION, "apiId": [1], "apiHash": API_HASH }),
            "apiId",
        ),
        (
            json!({ "sessionString": SESSION, "apiId": null, "apiHash": API_HASH }),
            "apiId",
        ),
        (json!({ "sessionString": SESSION, "apiId": 1 }), "apiHash"),
        (
            json!({ "sessionString": SESSION, "apiId": 1, "apiHash": "abc" }),
            "apiHash",
        ),
        (
            json!({ "sessionString": SESSION, "apiId": 1, "apiHash": format!("{API_HASH}0") }),
            "apiHash",
        ),
        (
            json!({ "sessionString": SESSION, "apiId": 1, "apiHash": "g5e9c0de0123456789abcdef7a6f1d2e" }),
            "apiHash",
        ),
        (
            json!({ "sessionString": SESSION, "apiId": 1, "apiHash": API_HASH, "phone": "+1" }),
            "phone",
        ),
    ] {
        let answer = put(&mesh, &mesh.key, body.clone()).await;
        let status = answer.status();
        let problem: Value = answer.json().await.expect("json");
        assert_eq!(status, 400, "{body}");
        assert_eq!(problem["code"], "VALIDATION_ERROR", "{body}");
        assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
        assert!(!problem.to_string().contains("canary"), "{problem}");
    }
    assert_eq!(fetch(&mesh, &mesh.key).await.status(), 404, "nothing was stored");
    let unauthenticated = mesh
        .http
        .put(mesh.url("/v1/connections/telegram"))
        .json(&json!({ "sessionString": SESSION, "apiId": 1, "apiHash": API_HASH }))
        .send()
        .await
        .expect("PUT without a key");
    assert_eq!(unauthenticated.status(), 401);
    mesh.stop().await;
}
