//! A consumer's handler runs in an `event.consume` span that continues the trace of the request
//! that caused the event, carried in the envelope's `traceparent`.

use std::sync::OnceLock;

use latchkey_events::EventFilter;
use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::layer::SubscriberExt;

use crate::support::{BusKind, DEADLINE, Recorded, TestBus, event, spawn_recorder};

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

fn consume_spans_of(trace_id: TraceId) -> Vec<SpanData> {
    let (exporter, provider) = recorder();
    let _ = provider.force_flush();
    exporter
        .get_finished_spans()
        .unwrap_or_default()
        .into_iter()
        .filter(|span| span.span_context.trace_id() == trace_id && span.name == "event.consume")
        .collect()
}

#[tokio::test]
async fn the_consumer_span_continues_the_envelope_trace() {
    recorder();
    let test = TestBus::new(BusKind::Local).await;
    let mut traced = event(0);
    traced.traceparent = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned());
    test.bus.publish(std::slice::from_ref(&traced)).await.expect("publish");

    let recorded = Recorded::default();
    let consumer = spawn_recorder(&test.bus, "trace-test", EventFilter::all(), &recorded);
    recorded.wait_for(1).await;
    consumer.stop().await;

    let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("trace id");
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let spans = loop {
        let spans = consume_spans_of(trace_id);
        if !spans.is_empty() {
            break spans;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no event.consume span in the trace"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    let span = &spans[0];
    assert_eq!(
        span.parent_span_id,
        SpanId::from_hex("00f067aa0ba902b7").expect("span id")
    );
    let event_id = span
        .attributes
        .iter()
        .find(|attribute| attribute.key.as_str() == "event_id")
        .map(|attribute| attribute.value.to_string());
    assert_eq!(event_id.as_deref(), Some(traced.id.as_str()));
}
