//! `/api/organizations/{org_slug}/services`: an organization's services.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use latchkey_proto::directory::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ServiceBody, ServiceType, UpdateServiceBody};
use crate::{json::ValidJson, openapi::responses as r, principal::Principal, problem::Problem, state::AppState};

/// A new service.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceBody {
    /// Unique in the organization: 1 to 64 of `a-z`, `0-9` and `-`, starting and ending with a
    /// letter or digit.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$",
        example = "main-app"
    )]
    pub slug: String,
    #[schema(min_length = 1, max_length = 128, example = "Acme Main Application")]
    pub name: String,
    /// Default `api`.
    pub service_type: Option<ServiceType>,
    #[schema(max_length = 1024)]
    pub description: Option<String>,
    /// At most 20, each an `https` URL (or `http` on 127.0.0.1, `[::1]` or localhost) without
    /// userinfo or fragment.
    #[schema(max_items = 20)]
    pub redirect_uris: Option<Vec<String>>,
    /// Provider codes its provider-token requests may name; empty or absent: every provider.
    #[schema(max_items = 50)]
    pub allowed_providers: Option<Vec<String>>,
    /// Scopes its provider-token requests may ask for; empty or absent: any.
    #[schema(max_items = 100)]
    pub scopes: Option<Vec<String>>,
}

/// How many services the organization holds (AuthOS's `usage`); Latchkey limits none.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceUsageBody {
    pub current_services: u64,
    /// Always `null`: no limit.
    pub max_services: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceListBody {
    /// By slug.
    pub services: Vec<ServiceBody>,
    pub usage: ServiceUsageBody,
}

fn service_ref(org_slug: String, service_slug: String) -> pb::ServiceRef {
    pb::ServiceRef { org_slug, service_slug }
}

/// Create a service
#[utoipa::path(
    post,
    path = "/api/organizations/{org_slug}/services",
    tag = "directory",
    params(("org_slug" = String, Path, description = "The organization's slug")),
    request_body(content = CreateServiceBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = ServiceBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
        r::JsonBody,
    )
)]
pub(crate) async fn create_service(
    State(state): State<AppState>,
    principal: Principal,
    Path(org_slug): Path<String>,
    ValidJson(body): ValidJson<CreateServiceBody>,
) -> Result<(StatusCode, Json<ServiceBody>), Problem> {
    let fields = UpdateServiceBody {
        name: Some(body.name),
        service_type: body.service_type,
        description: body.description,
        redirect_uris: body.redirect_uris,
        allowed_providers: body.allowed_providers,
        scopes: body.scopes,
    }
    .into_fields();
    let request = principal.grpc_request(pb::CreateServiceRequest {
        org_slug,
        slug: body.slug,
        fields: Some(fields),
    });
    let service = state.directory.clone().create_service(request).await?.into_inner();
    Ok((StatusCode::CREATED, Json(service.into())))
}

/// List an organization's services
#[utoipa::path(
    get,
    path = "/api/organizations/{org_slug}/services",
    tag = "directory",
    params(("org_slug" = String, Path, description = "The organization's slug")),
    responses(
        (status = 200, description = "The services", body = ServiceListBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn list_services(
    State(state): State<AppState>,
    principal: Principal,
    Path(org_slug): Path<String>,
) -> Result<Json<ServiceListBody>, Problem> {
    let request = principal.grpc_request(pb::OrganizationRef { org_slug });
    let listed = state.directory.clone().list_services(request).await?.into_inner();
    let services: Vec<ServiceBody> = listed.services.into_iter().map(Into::into).collect();
    Ok(Json(ServiceListBody {
        usage: ServiceUsageBody {
            current_services: u64::try_from(services.len()).unwrap_or(u64::MAX),
            max_services: None,
        },
        services,
    }))
}

/// Get a service
#[utoipa::path(
    get,
    path = "/api/organizations/{org_slug}/services/{service_slug}",
    tag = "directory",
    params(
        ("org_slug" = String, Path, description = "The organization's slug"),
        ("service_slug" = String, Path, description = "The service's slug"),
    ),
    responses(
        (status = 200, description = "The service", body = ServiceBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn get_service(
    State(state): State<AppState>,
    principal: Principal,
    Path((org_slug, service_slug)): Path<(String, String)>,
) -> Result<Json<ServiceBody>, Problem> {
    let request = principal.grpc_request(service_ref(org_slug, service_slug));
    let service = state.directory.clone().get_service(request).await?.into_inner();
    Ok(Json(service.into()))
}

/// Change a service
#[utoipa::path(
    patch,
    path = "/api/organizations/{org_slug}/services/{service_slug}",
    tag = "directory",
    params(
        ("org_slug" = String, Path, description = "The organization's slug"),
        ("service_slug" = String, Path, description = "The service's slug"),
    ),
    request_body(content = UpdateServiceBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The service", body = ServiceBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
        r::JsonBody,
    )
)]
pub(crate) async fn update_service(
    State(state): State<AppState>,
    principal: Principal,
    Path((org_slug, service_slug)): Path<(String, String)>,
    ValidJson(body): ValidJson<UpdateServiceBody>,
) -> Result<Json<ServiceBody>, Problem> {
    let request = principal.grpc_request(pb::UpdateServiceRequest {
        service: Some(service_ref(org_slug, service_slug)),
        fields: Some(body.into_fields()),
    });
    let service = state.directory.clone().update_service(request).await?.into_inner();
    Ok(Json(service.into()))
}

/// Delete a service
///
/// With its users, their subscriptions and its API keys, which stop authenticating at once.
#[utoipa::path(
    delete,
    path = "/api/organizations/{org_slug}/services/{service_slug}",
    tag = "directory",
    params(
        ("org_slug" = String, Path, description = "The organization's slug"),
        ("service_slug" = String, Path, description = "The service's slug"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn delete_service(
    State(state): State<AppState>,
    principal: Principal,
    Path((org_slug, service_slug)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    let request = principal.grpc_request(service_ref(org_slug, service_slug));
    state.directory.clone().delete_service(request).await?;
    Ok(StatusCode::NO_CONTENT)
}
