//! One trace follows a request from the gateway, through the gRPC call to agent-token, into the
//! event it caused and the audit consumer that chained it.

use std::{sync::OnceLock, time::Duration};

use latchkey_storage::Backend;
use opentelemetry::trace::{TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use reqwest::Method;
use tracing_subscriber::layer::SubscriberExt;

use crate::support::{Bus, TestMesh, eventually};

/// The test binary's span recorder, installed once as the process's subscriber.
fn recorder() -> &'static (InMemorySpanExporter, SdkTracerProvider) {
    static RECORDER: OnceLock<(InMemorySpanExporter, SdkTracerProvider)> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber in the test binary");
        latchkey_telemetry::install_propagator();
        (exporter, provider)
    })
}

fn span_names_of(trace_id: TraceId) -> Vec<String> {
    let (exporter, provider) = recorder();
    let _ = provider.force_flush();
    exporter
        .get_finished_spans()
        .unwrap_or_default()
        .into_iter()
        .filter(|span| span.span_context.trace_id() == trace_id)
        .map(|span| span.name.into_owned())
        .collect()
}

#[tokio::test]
async fn a_trace_crosses_gateway_grpc_and_the_audit_consumer() {
    recorder();
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
        names = span_names_of(trace_id);
        let seen = |part: &str| names.iter().any(|name| name.contains(part));
        let all = seen("POST") && seen("AgentTokenService/CreateApiKey") && seen("event.consume");
        async move { all }
    })
    .await;
    assert!(crossed, "spans of the trace: {names:?}");
    t.stop().await;
}
