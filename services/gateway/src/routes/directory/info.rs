//! `/api/service/info`: the calling service's own settings.

use axum::{Json, extract::State};
use latchkey_proto::directory::v1 as pb;

use super::{ServiceBody, UpdateServiceBody};
use crate::{
    json::ValidJson, openapi::responses as r, problem::Problem, service_caller::ServiceCaller, state::AppState,
};

/// The service's info
///
/// Its name, slug, organization, description, redirect URIs, allowed providers and scopes.
#[utoipa::path(
    get,
    path = "/api/service/info",
    tag = "service-api",
    responses(
        (status = 200, description = "The service", body = ServiceBody),
        r::ServiceApi,
    )
)]
pub(crate) async fn get_service_info(
    State(state): State<AppState>,
    caller: ServiceCaller,
) -> Result<Json<ServiceBody>, Problem> {
    let request = caller.grpc_request(pb::ServiceScope {
        service_id: caller.service_id.to_string(),
    });
    let service = state.directory.clone().get_service_info(request).await?.into_inner();
    Ok(Json(service.into()))
}

/// Change the service's info
///
/// Only the fields present change; a list present replaces the list. The slug and organization
/// are the service's address and do not change.
#[utoipa::path(
    patch,
    path = "/api/service/info",
    tag = "service-api",
    request_body(content = UpdateServiceBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The service", body = ServiceBody),
        r::ServiceApi,
        r::JsonBody,
    )
)]
pub(crate) async fn update_service_info(
    State(state): State<AppState>,
    caller: ServiceCaller,
    ValidJson(body): ValidJson<UpdateServiceBody>,
) -> Result<Json<ServiceBody>, Problem> {
    let request = caller.grpc_request(pb::UpdateServiceInfoRequest {
        service_id: caller.service_id.to_string(),
        fields: Some(body.into_fields()),
    });
    let service = state.directory.clone().update_service_info(request).await?.into_inner();
    Ok(Json(service.into()))
}
