//! The middleware every request passes through: it gives the request its id, runs the rest inside
//! the request's span under the request timeout, renders any error as a problem document, records
//! the request's metrics and echoes the id on the answer.
//!
//! The timeout covers the handler's future, which ends with the answer's head: reading the request
//! body and calling the services are inside it, a streamed answer body (the audit export) is not.
//! Past it the handler is dropped (its gRPC calls cancelled) and the caller gets 503
//! `SERVICE_UNAVAILABLE`. 503 rather than 408: most often the wait is on a service, not on the
//! client. A write that timed out may still have taken effect in its service.
//!
//! One layer doing the four steps rather than a layer per step: every axum `from_fn` layer clones
//! and boxes the service beneath it on each request, which on a cached read cost as much as the
//! steps themselves (docs/benchmarks.md).

use std::time::{Duration, Instant};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use latchkey_errors::{ApiError, ErrorCode};
use tracing::Instrument;

use crate::{metrics, problem, request_id::RequestId, trace};

/// `gateway.request_timeout_secs`, as the middleware's state.
#[derive(Clone, Copy)]
pub(crate) struct RequestTimeout(pub(crate) Duration);

pub(crate) async fn handle(State(timeout): State<RequestTimeout>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = RequestId::assign(&mut request);
    let route = trace::route_of(&request).to_owned();
    let span = trace::request_span(&request, &route, &request_id);
    let method = request.method().clone();
    let uri = request.uri().clone();

    let response = match tokio::time::timeout(timeout.0, next.run(request).instrument(span.clone())).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(parent: &span, timeout_secs = timeout.0.as_secs(), "the request timed out");
            problem::Problem(ApiError::new(
                ErrorCode::Unavailable,
                "the request took longer than the gateway allows; a write may still have taken effect",
            ))
            .into_response()
        }
    };
    let mut response = problem::render(response, uri.path(), &request_id);

    span.record("status", response.status().as_u16());
    metrics::record(&method, route, response.status(), started.elapsed());
    request_id.echo(&mut response);
    response
}
