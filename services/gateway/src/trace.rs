//! One span per request, named `http.request`, continuing the caller's `traceparent`. Handlers run
//! inside it, so the gRPC calls they make carry the trace on (the mesh interceptor reads the current
//! span) and every log line carries the request id.

use axum::{
    extract::{MatchedPath, Request},
    middleware::Next,
    response::Response,
};
use tracing::{Instrument, field::Empty};

use crate::request_id::RequestId;

/// The route label for spans and metrics: the matched route template, never the raw path (which
/// would put ids into labels), or `unmatched`.
pub(crate) fn route_of(request: &Request) -> &str {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
}

/// Middleware: runs the rest of the request inside its span and records the answer's status.
pub(crate) async fn trace_request(request: Request, next: Next) -> Response {
    let route = route_of(&request);
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(RequestId::as_str)
        .unwrap_or_default();
    let span = tracing::info_span!(
        "http.request",
        otel.name = %format_args!("{} {}", request.method(), route),
        otel.kind = "server",
        method = %request.method(),
        route = %route,
        status = Empty,
        request_id = %request_id,
        account_id = Empty,
    );
    let traceparent = request.headers().get("traceparent").and_then(|v| v.to_str().ok());
    latchkey_telemetry::follow_traceparent(&span, traceparent);
    let response = next.run(request).instrument(span.clone()).await;
    span.record("status", response.status().as_u16());
    response
}
