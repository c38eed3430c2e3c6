//! The kit every Latchkey service is built from (docs/architecture.md, "The service kit"):
//!
//! - [`serve_grpc`]: every gRPC server built the same way: the gRPC health service, reflection
//!   (v1 and v1alpha), a span per call that continues the caller's trace, metrics, graceful shutdown;
//! - [`ServiceRun`]: a service's run: its [`Tasks`], its outbox relay, its server, one shutdown;
//! - [`Tasks`]: named background tasks in spans, stopped and awaited together (bare `tokio::spawn`
//!   is refused by clippy);
//! - [`MeshAuth::caller`]: the [`Caller`] of a mesh call; mesh clients ([`connect`]) that carry the
//!   caller's trace and credential;
//! - [`InfraError`]: the failures every service shares, mapped to gRPC once;
//! - [`SystemSecrets`]: a service's own keys, sealed in the vault;
//! - [`Plans`]: the deployment's plans, and each service's check of a limit on what it owns.

pub mod infra_error;
mod mesh;
mod metrics_layer;
pub mod plans;
mod readiness;
pub mod redirect_uri;
pub mod secrets;
mod service_run;
mod system_secrets;
mod tasks;

use std::future::Future;

use tokio::net::TcpListener;
use tonic::{
    service::Routes,
    transport::{Server, server::TcpIncoming},
};
use tonic_health::ServingStatus;

pub use infra_error::{InfraError, stored_id};
pub use mesh::{
    ACCOUNT_HEADER, ACTOR_HEADER, Caller, IDENTITIES, LONG_CALLS, MeshAuth, MeshChannel, MeshDeadlines,
    MeshInterceptor, MeshPeer, MeshTls, REFUSED_FOR, Replicas, SERVICE_TOKEN_HEADER, TlsError, TlsFiles, actor_of,
    connect, connect_to, may_call, with_account,
};
pub use metrics_layer::{GRPC_REQUEST_DURATION_SECONDS, GRPC_REQUESTS_TOTAL};
pub use plans::{Limited, PLAN_HEADER, PlanLimits, Plans, plan_of, with_plan};
pub use readiness::{Dependencies, drain_before_stopping, serving, set_shutdown_drain, shutdown_drain};
pub use service_run::ServiceRun;
pub use system_secrets::{
    OpenedSecret, SYSTEM_ACCOUNT, SealedKeyTable, SystemSecretError, SystemSecrets, retry_while_unavailable,
};
pub use tasks::{DEFAULT_GRACE, Tasks, spawn_connection};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// Serves `routes` on `listener` until `shutdown` resolves, then drains in-flight calls.
/// `service_names` are the fully qualified gRPC service names reported as SERVING by health.
pub async fn serve_grpc(
    listener: TcpListener,
    routes: Routes,
    service_names: &[&str],
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    let names: Vec<String> = service_names.iter().map(|name| (*name).to_owned()).collect();
    readiness::report(&health_reporter, &names, ServingStatus::Serving).await;
    serve_grpc_with_health(listener, None, routes, health_service, shutdown).await
}

/// [`serve_grpc`] with a health service whose reporter the caller keeps; over mutual TLS when
/// `tls` is given (only peers with a mesh certificate connect, and each call is authorized by the
/// identity it names: `mesh::authorization`).
pub(crate) async fn serve_grpc_with_health<H: tonic_health::pb::health_server::Health>(
    listener: TcpListener,
    tls: Option<std::sync::Arc<MeshTls>>,
    routes: Routes,
    health_service: tonic_health::pb::health_server::HealthServer<H>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(latchkey_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(latchkey_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    // Services of this process call these routes without the network (`mesh::in_process`).
    let in_process = routes.clone().add_service(health_service.clone());
    let in_process = tower::Layer::layer(&mesh::AuthorizeLayer, in_process);
    let in_process = tower::Layer::layer(&metrics_layer::GrpcMetrics::layer(), in_process);
    let _reachable_in_process = listener
        .local_addr()
        .ok()
        .map(|address| mesh::in_process::register(address, tower::util::BoxCloneSyncService::new(in_process)));

    let router = Server::builder()
        .trace_fn(|request| call_span(request.uri().path(), request.headers()))
        .layer(metrics_layer::GrpcMetrics::layer())
        .layer(mesh::AuthorizeLayer)
        .add_routes(routes)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    match tls {
        Some(tls) => {
            router
                .serve_with_incoming_shutdown(mesh::incoming(listener, tls), shutdown)
                .await?
        }
        // Without TCP_NODELAY small gRPC frames wait out the peer's delayed ACK (~40 ms stalls).
        None => {
            router
                .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), shutdown)
                .await?
        }
    }
    Ok(())
}

/// The span of one incoming call to `path`, continuing the trace named by the caller's
/// `traceparent` header.
fn call_span(path: &str, headers: &http::HeaderMap) -> tracing::Span {
    let span = tracing::info_span!(
        "grpc.server",
        otel.name = %path,
        otel.kind = "server",
        rpc.system = "grpc",
    );
    let traceparent = headers.get("traceparent").and_then(|v| v.to_str().ok());
    latchkey_telemetry::follow_traceparent(&span, traceparent);
    span
}
