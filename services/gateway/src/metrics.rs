//! Request metrics, recorded through the `metrics` facade into the process's Prometheus registry
//! (`latchkey_telemetry::render_metrics` serves it at `/metrics`).

use std::time::Instant;

use axum::{extract::Request, middleware::Next, response::Response};

use crate::trace::route_of;

/// Counter of answered requests, labelled `method`, `route` (the route template) and `status`.
pub const HTTP_REQUESTS_TOTAL: &str = "latchkey_http_requests_total";
/// Time from receiving a request to having its response head, in seconds; same labels.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "latchkey_http_request_duration_seconds";

/// Middleware: counts and times every request.
pub(crate) async fn record_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = route_of(&request).to_owned();
    let response = next.run(request).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!(HTTP_REQUESTS_TOTAL, &labels).increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, &labels).record(started.elapsed().as_secs_f64());
    response
}
