//! Counts and times every gRPC call a server answers, by method.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

/// Calls answered, by `method` (the gRPC path).
pub const GRPC_REQUESTS_TOTAL: &str = "latchkey_grpc_requests_total";
/// Time to the response headers, in seconds, by `method`.
pub const GRPC_REQUEST_DURATION_SECONDS: &str = "latchkey_grpc_request_duration_seconds";

/// The tower service that records the metrics around the server's routes.
#[derive(Clone, Debug)]
pub struct GrpcMetrics<S> {
    inner: S,
}

impl<S> GrpcMetrics<S> {
    pub fn layer() -> impl tower::Layer<S, Service = Self> + Clone {
        tower::layer::layer_fn(|inner| Self { inner })
    }
}

impl<S, B, R> tower::Service<http::Request<B>> for GrpcMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        // Only our own and the standard services' methods: a client cannot mint label values.
        let method = (path.starts_with("/latchkey.") || path.starts_with("/grpc.")).then(|| path.to_owned());
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            if let Some(method) = method {
                metrics::counter!(GRPC_REQUESTS_TOTAL, "method" => method.clone()).increment(1);
                metrics::histogram!(GRPC_REQUEST_DURATION_SECONDS, "method" => method)
                    .record(started.elapsed().as_secs_f64());
            }
            response
        })
    }
}
