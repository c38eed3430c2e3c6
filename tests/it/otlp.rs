//! Traces as an operator's collector receives them: the mesh as separate `latchkey serve`
//! processes exports over OTLP/gRPC to a receiver of the test's own (the collector's
//! `TraceService`, from `opentelemetry-proto`), and one REST call arrives as one trace whose spans
//! link, parent by parent, from the gateway's request through agent-token's gRPC call and the event
//! it wrote to the audit consumer, each span under its own service's `service.name`.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use latchkey_test_support::{TestDatabase, eventually, read_until};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::{KeyValue, any_value::Value as AnyValue},
};
use serde_json::{Value, json};

use crate::process_mesh::ProcessMesh;

/// One span as the receiver got it.
#[derive(Clone, Debug)]
struct Collected {
    trace_id: String,
    span_id: String,
    /// Empty for a root span.
    parent_span_id: String,
    name: String,
    /// The `service.name` of the resource it came with.
    service: String,
    /// Its string attributes (`event_id`, `event_type`, …).
    attributes: BTreeMap<String, String>,
}

/// An OTLP/gRPC trace receiver keeping every span it is sent.
#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<Collected>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut kept = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        for resource_spans in request.into_inner().resource_spans {
            let resource = resource_spans
                .resource
                .map(|r| strings(&r.attributes))
                .unwrap_or_default();
            let service = resource.get("service.name").cloned().unwrap_or_default();
            for span in resource_spans.scope_spans.into_iter().flat_map(|scope| scope.spans) {
                kept.push(Collected {
                    trace_id: hex::encode(&span.trace_id),
                    span_id: hex::encode(&span.span_id),
                    parent_span_id: hex::encode(&span.parent_span_id),
                    name: span.name,
                    service: service.clone(),
                    attributes: strings(&span.attributes),
                });
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn strings(attributes: &[KeyValue]) -> BTreeMap<String, String> {
    attributes
        .iter()
        .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
            AnyValue::StringValue(text) => Some((kv.key.clone(), text.clone())),
            _ => None,
        })
        .collect()
}

impl Receiver {
    /// Serves on a free loopback port until the test ends; answers the endpoint to export to.
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("an address"));
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        endpoint
    }

    fn spans(&self) -> Vec<Collected> {
        self.spans.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

#[tokio::test]
async fn otlp_one_rest_call_is_one_trace_from_gateway_to_the_audit_consumer() {
    let receiver = Receiver::default();
    let endpoint = receiver.start().await;
    let database = TestDatabase::postgres().await;
    let nats = crate::nats_users::mesh_nats().await;
    let mut mesh = ProcessMesh::start(
        database.url(),
        &nats.url(),
        |_| 1,
        &[
            ("LATCHKEY__TELEMETRY__OTLP_ENDPOINT", endpoint.as_str()),
            // The SDK exports a batch every 5 s by default; an hour here leaves the spans to the
            // flush on SIGTERM, which is what this test relies on: a process told to stop sends
            // what it holds before it exits.
            ("OTEL_BSP_SCHEDULE_DELAY", "3600000"),
        ],
    )
    .await;
    let key = mesh.create_account("Traced");
    let http = reqwest::Client::new();
    let base = mesh.gateway(0);
    let audit = |key: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let answer = http
                .get(format!("{base}/v1/audit?order=asc&limit=500"))
                .bearer_auth(key)
                .send()
                .await;
            match answer {
                Ok(answer) if answer.status() == 200 => answer.json::<Value>().await.unwrap_or_default()["data"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
                _ => Vec::new(),
            }
        }
    };
    // The account's own events (its creation, its first key) are consumed first, so the call's
    // event reaches the audit consumer alone (a batch of several would be linked, not parented).
    let settled = read_until(Duration::from_secs(30), || audit(key.clone()), |e| e.len() >= 2).await;
    assert!(settled.len() >= 2, "the account's events were not audited: {settled:?}");

    // The reads above went through the gateway to agent-token and audit: its channels are up, so
    // the one call is made once.
    let answer = http
        .post(format!("{base}/v1/api-keys"))
        .bearer_auth(&key)
        .json(&json!({"name": "traced"}))
        .send()
        .await
        .expect("POST /v1/api-keys");
    assert_eq!(answer.status(), 201, "POST /v1/api-keys");
    let created: Value = answer.json().await.expect("json");
    let key_id = created["id"].as_str().expect("the new key's id").to_owned();
    let entries = read_until(
        Duration::from_secs(30),
        || audit(key.clone()),
        |entries| entries.iter().any(|e| e["subject"] == key_id.as_str()),
    )
    .await;
    let entry = entries
        .iter()
        .find(|e| e["subject"] == key_id.as_str() && e["type"] == "api_key.created")
        .unwrap_or_else(|| panic!("no audit entry of the new key: {entries:?}"));
    let event_id = entry["event_id"].as_str().expect("the entry's event id").to_owned();

    // Stopped the way an orchestrator stops them, each process flushes its spans on the way out.
    for service in ["gateway", "agent-token", "audit"] {
        mesh.terminate(service, 0).await;
    }
    let consumed = |spans: &[Collected]| {
        spans
            .iter()
            .any(|s| s.name == "event.consume" && s.attributes.get("event_id") == Some(&event_id))
    };
    let collected = eventually(Duration::from_secs(10), || {
        let done = consumed(&receiver.spans());
        async move { done }
    })
    .await;
    let spans = receiver.spans();
    assert!(
        collected,
        "the audit consumer's span never arrived; {} spans: {:#?}",
        spans.len(),
        names(&spans)
    );
    check_chain(&spans, &event_id);
    drop(mesh);
}

/// The request's spans form one trace, rooted at the gateway's request span, in which the audit
/// consumer's span of `event_id` descends from agent-token's `CreateApiKey` call.
fn check_chain(spans: &[Collected], event_id: &str) {
    let roots: Vec<&Collected> = spans
        .iter()
        .filter(|s| s.name == "POST /v1/api-keys" && s.service == "latchkey-gateway")
        .collect();
    let [root] = roots.as_slice() else {
        panic!("one gateway request span, found {roots:#?}");
    };
    assert!(root.parent_span_id.is_empty(), "the request span is a root: {root:?}");
    let trace: Vec<&Collected> = spans.iter().filter(|s| s.trace_id == root.trace_id).collect();
    let by_id: BTreeMap<&str, &Collected> = trace.iter().map(|s| (s.span_id.as_str(), *s)).collect();
    for span in &trace {
        assert!(
            span.span_id == root.span_id || by_id.contains_key(span.parent_span_id.as_str()),
            "a span whose parent is not in the trace: {span:#?}\ntrace: {:#?}",
            names(&trace.iter().copied().cloned().collect::<Vec<_>>())
        );
    }
    // Every span of the call is in the one trace: none of its gRPC calls or of its event's
    // consumers started a trace of its own.
    for span in spans {
        let of_the_call = span.name.ends_with("/CreateApiKey")
            || span.attributes.get("event_id").map(String::as_str) == Some(event_id);
        assert!(
            !of_the_call || span.trace_id == root.trace_id,
            "a span of the call in another trace: {span:#?}"
        );
    }
    let consume = trace
        .iter()
        .find(|s| {
            s.name == "event.consume"
                && s.service == "latchkey-audit"
                && s.attributes.get("event_id").map(String::as_str) == Some(event_id)
        })
        .unwrap_or_else(|| panic!("the audit consumer's span is not in the trace: {:#?}", names(spans)));
    // From the consumer up to the root, parent by parent.
    let mut path = vec![*consume];
    while let Some(parent) = by_id.get(path[path.len() - 1].parent_span_id.as_str()) {
        path.push(parent);
    }
    let path: Vec<(&str, &str)> = path
        .iter()
        .rev()
        .map(|s| (s.service.as_str(), s.name.as_str()))
        .collect();
    let position = |wanted: &dyn Fn(&(&str, &str)) -> bool| path.iter().position(wanted);
    let request = position(&|(service, name)| *service == "latchkey-gateway" && *name == "POST /v1/api-keys");
    let call = position(&|(service, name)| *service == "latchkey-agent-token" && name.ends_with("/CreateApiKey"));
    let written = position(&|(service, name)| *service == "latchkey-agent-token" && *name == "outbox.enqueue");
    let consumed = position(&|(service, name)| *service == "latchkey-audit" && *name == "event.consume");
    assert_eq!(request, Some(0), "the path starts at the gateway's request: {path:#?}");
    assert!(
        request < call && call < written && written < consumed && consumed == Some(path.len() - 1),
        "gateway -> agent-token's call -> its outbox write -> the audit consumer: {path:#?}"
    );
}

/// `(service.name, span name, trace id)` of each span, for a failure's message.
fn names(spans: &[Collected]) -> Vec<(String, String, String)> {
    spans
        .iter()
        .map(|s| (s.service.clone(), s.name.clone(), s.trace_id.clone()))
        .collect()
}
