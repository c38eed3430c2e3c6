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

/// The gateway can serve: every essential service answered SERVING.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyBody {
    /// `ready`, or `degraded` when a service the gateway can do without is not serving (its
    /// routes answer 503 until it is back).
    #[schema(example = "ready")]
    pub status: &'static str,
    /// The gRPC services checked.
    pub checked: Vec<String>,
    /// The services not serving, each with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub degraded: Vec<DegradedService>,
}

/// A service the gateway can do without that is not serving.
#[derive(Debug, Serialize, ToSchema)]
pub struct DegradedService {
    #[schema(example = "latchkey.webhook.v1.WebhookService")]
    pub service: String,
    #[schema(example = "unreachable")]
    pub reason: String,
}

/// Liveness
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process is alive", body = HealthBody)))]
pub(crate) async fn healthz() -> Json<HealthBody> {
    Json(HealthBody { status: "ok" })
}

/// Readiness
///
/// 200 when every service the gateway cannot do without (agent-token, which authenticates every
/// request) answers the gRPC health check as SERVING; `status` is `degraded`, naming the others
/// that did not, when one of those is down. 503 naming the essential services that did not (in
/// `errors`), and while the gateway drains before it stops.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = ReadyBody),
        (status = 503, response = r::Unavailable),
    ))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<Json<ReadyBody>, Problem> {
    if state.draining.load(std::sync::atomic::Ordering::Acquire) {
        return Err(Problem(ApiError::new(
            ErrorCode::Unavailable,
            "not ready: shutting down",
        )));
    }
    let checks = state.readiness.iter().map(|check| async move {
        let mut client = HealthClient::new(check.channel.clone());
        let request = HealthCheckRequest {
            service: check.service.clone(),
        };
        let outcome = match tokio::time::timeout(CHECK_TIMEOUT, client.check(request)).await {
            Ok(Ok(answer)) if answer.get_ref().status() == ServingStatus::Serving => None,
            Ok(Ok(answer)) => Some(format!("answered {}", answer.get_ref().status().as_str_name())),
            Ok(Err(status)) => {
                tracing::debug!(service = %check.service, grpc.code = ?status.code(), "readiness check failed");
                Some("unreachable".to_owned())
            }
            Err(_) => Some("did not answer in time".to_owned()),
        };
        (check, outcome)
    });
    let outcomes = futures::future::join_all(checks).await;
    let failed = |essential: bool| -> Vec<FieldError> {
        outcomes
            .iter()
            .filter(|(check, _)| check.essential == essential)
            .filter_map(|(check, failure)| {
                failure
                    .as_ref()
                    .map(|f| FieldError::new(check.service.clone(), f.clone()))
            })
            .collect()
    };
    let (essential, degraded) = (failed(true), failed(false));
    if essential.is_empty() {
        let checked = outcomes.iter().map(|(check, _)| check.service.clone()).collect();
        return Ok(Json(ReadyBody {
            status: if degraded.is_empty() { "ready" } else { "degraded" },
            checked,
            degraded: degraded
                .into_iter()
                .map(|failure| DegradedService {
                    service: failure.field,
                    reason: failure.message,
                })
                .collect(),
        }));
    }
    let names: Vec<&str> = essential.iter().map(|f| f.field.as_str()).collect();
    let message = format!("not ready: {} not serving", names.join(", "));
    Err(Problem(ApiError {
        errors: essential,
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
