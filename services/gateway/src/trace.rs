//! One span per request, named `http.request`, continuing the caller's `traceparent`. Handlers run
//! inside it (see `edge`), so the gRPC calls they make carry the trace on (the mesh interceptor reads the current
//! span) and every log line carries the request id.

use axum::extract::{MatchedPath, Request};
use tracing::field::Empty;

use crate::request_id::RequestId;

/// The route label for spans and metrics: the matched route template, never the raw path (which
/// would put ids into labels), or `unmatched`.
pub(crate) fn route_of(request: &Request) -> &str {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
}

/// The request's span, continuing the caller's `traceparent`; `status` and `account_id` are
/// recorded into it later.
pub(crate) fn request_span(request: &Request, route: &str, request_id: &RequestId) -> tracing::Span {
    let span = tracing::info_span!(
        "http.request",
        otel.name = %format_args!("{} {}", request.method(), route),
        otel.kind = "server",
        method = %request.method(),
        route = %route,
        status = Empty,
        request_id = %request_id.as_str(),
        account_id = Empty,
    );
    let traceparent = request.headers().get("traceparent").and_then(|v| v.to_str().ok());
    latchkey_telemetry::follow_traceparent(&span, traceparent);
    span
}
