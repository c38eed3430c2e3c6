//! `/healthz` (the process answers), `/readyz` (the services it depends on answer the gRPC health
//! check as SERVING) and `/metrics` (Prometheus text).

use std::time::Duration;

use axum::{Json, extract::State, http::header, response::IntoResponse};
use latchkey_errors::{ApiError, ErrorCode, FieldError};
use serde::Serialize;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
use utoipa::ToSchema;

use crate::{openapi::responses as r, problem::Problem, state::AppState};

/// How long one readiness check may take before the service counts as not ready.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The Prometheus text exposition format's media type.
const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// The process is alive.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthBody {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Every dependency answered SERVING.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyBody {
    #[schema(example = "ready")]
    pub status: &'static str,
    /// The gRPC services checked.
    pub checked: Vec<String>,
}

/// Liveness
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process is alive", body = HealthBody)))]
pub(crate) async fn healthz() -> Json<HealthBody> {
    Json(HealthBody { status: "ok" })
}

/// Readiness
///
/// 200 when every service the gateway depends on answers the gRPC health check as SERVING; 503
/// naming those that did not (in `errors`, one per service) otherwise.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = ReadyBody),
        (status = 503, response = r::Unavailable),
    ))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<Json<ReadyBody>, Problem> {
    let checks = state.readiness.iter().map(|(service, channel)| async move {
        let mut client = HealthClient::new(channel.clone());
        let request = HealthCheckRequest {
            service: service.clone(),
        };
        let outcome = match tokio::time::timeout(CHECK_TIMEOUT, client.check(request)).await {
            Ok(Ok(answer)) if answer.get_ref().status() == ServingStatus::Serving => None,
            Ok(Ok(answer)) => Some(format!("answered {}", answer.get_ref().status().as_str_name())),
            Ok(Err(status)) => {
                tracing::debug!(service = %service, grpc.code = ?status.code(), "readiness check failed");
                Some("unreachable".to_owned())
            }
            Err(_) => Some("did not answer in time".to_owned()),
        };
        (service.clone(), outcome)
    });
    let outcomes = futures::future::join_all(checks).await;
    let failures: Vec<FieldError> = outcomes
        .iter()
        .filter_map(|(service, failure)| failure.as_ref().map(|f| FieldError::new(service.clone(), f.clone())))
        .collect();
    if failures.is_empty() {
        let checked = outcomes.into_iter().map(|(service, _)| service).collect();
        return Ok(Json(ReadyBody {
            status: "ready",
            checked,
        }));
    }
    let names: Vec<&str> = failures.iter().map(|f| f.field.as_str()).collect();
    let message = format!("not ready: {} not serving", names.join(", "));
    Err(Problem(ApiError {
        errors: failures,
        ..ApiError::new(ErrorCode::Unavailable, message)
    }))
}

/// Prometheus metrics
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text exposition", body = String,
        content_type = "text/plain; version=0.0.4")))]
pub(crate) async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)],
        latchkey_telemetry::render_metrics(),
    )
}
