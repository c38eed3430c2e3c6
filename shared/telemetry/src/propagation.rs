//! W3C trace context (`traceparent`) in and out of the current span: the gateway's request span
//! travels in gRPC metadata to the services and in the event envelope to every consumer.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Makes W3C trace context the global propagator. Idempotent.
pub fn install_propagator() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
}

/// The current span's context as a `traceparent` value, if it belongs to a sampled trace.
pub fn current_traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `span` a child of the remote span named by `traceparent`; ignores malformed values.
pub fn follow_traceparent(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    let _ = span.set_parent(context);
}

/// Links `span` to the remote span named by `traceparent`, without making it the parent: for work
/// done on behalf of many traces at once (a batch of events). Ignores malformed values.
pub fn link_traceparent(span: &tracing::Span, traceparent: &str) {
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    let remote = opentelemetry::trace::TraceContextExt::span(&context)
        .span_context()
        .clone();
    if remote.is_valid() {
        span.add_link(remote);
    }
}
