//! The middleware every request passes through: it gives the request its id, runs the rest inside
//! the request's span, renders any error as a problem document, records the request's metrics and
//! echoes the id on the answer.
//!
//! One layer doing the four steps rather than a layer per step: every axum `from_fn` layer clones
//! and boxes the service beneath it on each request, which on a cached read cost as much as the
//! steps themselves (docs/benchmarks.md).

use std::time::Instant;

use axum::{extract::Request, middleware::Next, response::Response};
use tracing::Instrument;

use crate::{metrics, problem, request_id::RequestId, trace};

pub(crate) async fn handle(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = RequestId::assign(&mut request);
    let route = trace::route_of(&request).to_owned();
    let span = trace::request_span(&request, &route, &request_id);
    let method = request.method().clone();
    let uri = request.uri().clone();

    let response = next.run(request).instrument(span.clone()).await;
    let mut response = problem::render(response, uri.path(), &request_id);

    span.record("status", response.status().as_u16());
    metrics::record(&method, route, response.status(), started.elapsed());
    request_id.echo(&mut response);
    response
}
