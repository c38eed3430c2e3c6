//! One trace follows a request from the gateway, through the gRPC call to agent-token, into the
//! event it caused and the audit consumer that chained it. And nothing secret is ever logged on
//! the way, at any level.

use std::time::Duration;

use latchkey_storage::Backend;
use latchkey_test_support::{captured, eventually};
use opentelemetry::trace::TraceId;
use reqwest::Method;

use crate::support::{Bus, TestMesh};

#[tokio::test]
async fn a_trace_crosses_gateway_grpc_and_the_audit_consumer() {
    captured::install();
    let t = TestMesh::start(Backend::Sqlite, Bus::Local).await;
    let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    let response = t
        .as_key(Method::POST, "/v1/api-keys", &t.key)
        .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .json(&serde_json::json!({"name": "traced"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    let mut names = Vec::new();
    let crossed = eventually(Duration::from_secs(20), || {
        names = captured::span_names_of(trace_id);
        // The audit consumer continues the trace when the event comes alone, and links it from
        // its batch's span when it comes with others (the mesh's own events at start).
        names.extend(
            captured::spans_linked_to(trace_id)
                .into_iter()
                .map(|span| format!("{} (linked)", span.name)),
        );
        let seen = |part: &str| names.iter().any(|name| name.contains(part));
        let all = seen("POST") && seen("AgentTokenService/CreateApiKey") && seen("event.consume");
        async move { all }
    })
    .await;
    assert!(crossed, "spans of the trace: {names:?}");
    t.stop().await;
}

#[tokio::test]
async fn no_key_or_mesh_token_reaches_the_logs_at_any_level() {
    captured::install();
    for (backend, bus) in [(Backend::Sqlite, Bus::Local), (Backend::Postgres, Bus::Nats)] {
        let t = TestMesh::start(backend, bus).await;
        let created = t.create_key(&t.key, "secretive").await;
        let secret = created["key"].as_str().unwrap().to_owned();
        t.list_keys(&secret).await;
        let deleted = t
            .as_key(
                Method::DELETE,
                &format!("/v1/api-keys/{}", created["id"].as_str().unwrap()),
                &t.key,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
        let refused = t.as_key(Method::GET, "/v1/api-keys", &secret).send().await.unwrap();
        assert_eq!(refused.status(), 401);
        t.audit_entries_at_least(&t.key, 4).await;
        let account_key = t.key.clone();
        t.stop().await;

        let logs = captured::logs();
        assert!(logs.len() > 1000, "the capture saw the flow ({} bytes)", logs.len());
        for (what, secret) in [
            ("created key", secret.as_str()),
            ("account key", account_key.as_str()),
            ("mesh token", crate::support::MESH_TOKEN),
        ] {
            captured::assert_not_captured(what, secret);
        }
    }
}
