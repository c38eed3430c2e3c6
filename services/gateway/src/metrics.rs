//! Request metrics, recorded through the `metrics` facade into the process's Prometheus registry
//! (`latchkey_telemetry::render_metrics` serves it at `/metrics`).

use std::time::Duration;

use http::{Method, StatusCode};

/// Counter of answered requests, labelled `method`, `route` (the route template) and `status`.
pub const HTTP_REQUESTS_TOTAL: &str = "latchkey_http_requests_total";
/// Time from receiving a request to having its response head, in seconds; same labels.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "latchkey_http_request_duration_seconds";

/// Counts and times one answered request.
pub(crate) fn record(method: &Method, route: String, status: StatusCode, elapsed: Duration) {
    let labels: [(&str, metrics::SharedString); 3] = [
        ("method", method_label(method).into()),
        ("route", route.into()),
        ("status", status.as_u16().to_string().into()),
    ];
    metrics::counter!(HTTP_REQUESTS_TOTAL, &labels).increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, &labels).record(elapsed.as_secs_f64());
}

/// The method as a label: the standard ones by name, anything else as `other`, so a client
/// inventing methods cannot grow the label set.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
