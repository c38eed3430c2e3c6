//! A test binary's one global subscriber: every span goes to an in-memory OpenTelemetry exporter
//! (for trace propagation tests) and every log line, down to TRACE for Latchkey's own crates and
//! DEBUG for the libraries under them, to an in-memory buffer; [`assert_not_captured`] fails a test
//! when a secret stands in either (the log canary).

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
};

use opentelemetry::trace::{TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::{Layer, filter::Targets, layer::SubscriberExt};

struct Captured {
    spans: InMemorySpanExporter,
    provider: SdkTracerProvider,
    logs: Arc<Mutex<Vec<u8>>>,
}

#[derive(Clone)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured() -> &'static Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED.get_or_init(|| {
        let spans = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder().with_simple_exporter(spans.clone()).build();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let buffer = LogBuffer(logs.clone());
        let log_layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || buffer.clone())
            .with_filter(
                Targets::new()
                    .with_default(tracing::Level::DEBUG)
                    .with_target("latchkey", tracing::Level::TRACE),
            );
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(provider.tracer("test"))
                    .with_filter(tracing_subscriber::filter::filter_fn(
                        latchkey_telemetry::exported_as_trace,
                    )),
            )
            .with(log_layer);
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber in the test binary");
        latchkey_telemetry::install_propagator();
        Captured { spans, provider, logs }
    })
}

/// Installs the capture; call before starting what is to be observed.
pub fn install() {
    captured();
}

/// The finished spans of `trace_id`.
pub fn spans_of(trace_id: TraceId) -> Vec<SpanData> {
    finished_spans()
        .into_iter()
        .filter(|span| span.span_context.trace_id() == trace_id)
        .collect()
}

/// The names of the finished spans of `trace_id`.
pub fn span_names_of(trace_id: TraceId) -> Vec<String> {
    spans_of(trace_id)
        .into_iter()
        .map(|span| span.name.into_owned())
        .collect()
}

/// The finished spans of other traces that link to `trace_id`: a consumer's
/// `event.consume_batch` links the trace of each event of its batch.
pub fn spans_linked_to(trace_id: TraceId) -> Vec<SpanData> {
    finished_spans()
        .into_iter()
        .filter(|span| span.links.iter().any(|link| link.span_context.trace_id() == trace_id))
        .collect()
}

/// Every finished span of every test so far.
pub fn finished_spans() -> Vec<SpanData> {
    let captured = captured();
    let _ = captured.provider.force_flush();
    captured.spans.get_finished_spans().unwrap_or_default()
}

/// Everything logged so far, by every test of the binary.
pub fn logs() -> String {
    let captured = captured();
    let logs = captured.logs.lock().map(|bytes| bytes.clone()).unwrap_or_default();
    String::from_utf8_lossy(&logs).into_owned()
}

/// Every finished span of every test so far, as text: names, attributes and events.
pub fn all_span_text() -> String {
    finished_spans()
        .into_iter()
        .map(|span| format!("{} {:?} {:?}", span.name, span.attributes, span.events))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The log canary: fails the test when `secret` (the `what` of the message) stands in any log line
/// or span captured so far. Call it after the flow that handled the secret, with the capture
/// [`install`]ed before it; an empty capture fails too, for a check that saw nothing proves nothing.
pub fn assert_not_captured(what: &str, secret: &str) {
    assert!(!secret.is_empty(), "the {what} to look for is empty");
    let logs = logs();
    assert!(
        !logs.is_empty(),
        "the capture saw nothing: was it installed before the flow?"
    );
    assert!(!logs.contains(secret), "the {what} was logged");
    assert!(!all_span_text().contains(secret), "the {what} reached a span");
}
