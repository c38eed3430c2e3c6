//! Telemetry for every Latchkey process: `tracing` logs (text or JSON), OpenTelemetry traces over
//! OTLP when an endpoint is configured, W3C trace context carried across gRPC calls and events, and
//! Prometheus metrics.

mod metrics_registry;
mod propagation;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use serde::Deserialize;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

pub use metrics_registry::{metrics_handle, render_metrics};
pub use propagation::{current_traceparent, follow_traceparent, install_propagator, link_traceparent};

/// `[telemetry]` in the configuration file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Log filter in `RUST_LOG` syntax. Default `info`.
    pub log_filter: String,
    /// Emit logs as JSON lines instead of text. Default `false`.
    pub json_logs: bool,
    /// OTLP/gRPC endpoint for traces (e.g. `http://jaeger:4317`); traces are not exported when empty.
    pub otlp_endpoint: Option<String>,
    /// `service.name` reported with every span. Default `latchkey`.
    pub service_name: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_filter: "info".to_owned(),
            json_logs: false,
            otlp_endpoint: None,
            service_name: "latchkey".to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid log filter: {0}")]
    Filter(String),
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
}

/// Flushes and shuts down trace export when dropped.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// The target of the span a background task runs in (`latchkey_server::Tasks`). Such a span lives
/// as long as its task, often as long as the process, so it is left out of the exported traces
/// ([`exported_as_trace`]): as a trace it would last the process's life, take in as children the
/// calls that arrive without a `traceparent`, and collect every event of its loop. Log lines still
/// carry its fields (task, service).
pub const TASK_SPAN_TARGET: &str = "latchkey::task";

/// Whether a span or event goes to the OpenTelemetry layer: all but the task spans
/// ([`TASK_SPAN_TARGET`]). What happens inside a task span is then traced as it was without it.
pub fn exported_as_trace(metadata: &tracing::Metadata<'_>) -> bool {
    metadata.target() != TASK_SPAN_TARGET
}

/// The most the MCP SDK (`rmcp`) may log: at debug it prints every message whole, provider tokens
/// in tool results included.
const MCP_SDK_LOG_CAP: &str = "rmcp=info";

/// Installs the process-wide subscriber. Call once, from `main`.
pub fn init(config: &TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    install_propagator();
    // Metrics recorded before a recorder exists are lost: install it before anything records.
    metrics_handle();
    // The MCP SDK logs whole messages at debug (a tool's result holds a provider token): it never
    // logs below info, whatever the filter asks of everything else.
    let filter = EnvFilter::try_new(&config.log_filter)
        .map_err(|e| TelemetryError::Filter(e.to_string()))?
        .add_directive(
            MCP_SDK_LOG_CAP
                .parse::<tracing_subscriber::filter::Directive>()
                .map_err(|e| TelemetryError::Filter(e.to_string()))?,
        );
    let provider = match &config.otlp_endpoint {
        Some(endpoint) if !endpoint.is_empty() => Some(otlp_provider(endpoint, &config.service_name)?),
        _ => None,
    };
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("latchkey"))
            .with_filter(tracing_subscriber::filter::filter_fn(exported_as_trace))
    });
    let (text, json) = if config.json_logs {
        (
            None,
            Some(tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr)),
        )
    } else {
        // Colour only on a terminal: escape codes in a log file or a collector are noise, and
        // styling every span's fields costs time on each request.
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        (
            Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(std::io::stderr),
            ),
            None,
        )
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(otel)
        .with(text)
        .with(json)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    Ok(TelemetryGuard { provider })
}

fn otlp_provider(endpoint: &str, service_name: &str) -> Result<SdkTracerProvider, TelemetryError> {
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service_name.to_owned()).build())
        .build())
}
