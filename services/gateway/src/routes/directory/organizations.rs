//! `/api/organizations`: the account's organizations, addressed by slug.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use chrono::{DateTime, Utc};
use latchkey_proto::directory::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    json::ValidJson, openapi::responses as r, principal::Principal, problem::Problem, routes::time_from_ms,
    state::AppState,
};

/// A new organization.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganizationBody {
    /// Unique in the account: 1 to 64 of `a-z`, `0-9` and `-`, starting and ending with a letter or
    /// digit. Its address; it does not change.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$",
        example = "acme"
    )]
    pub slug: String,
    /// 1 to 128 characters.
    #[schema(min_length = 1, max_length = 128, example = "Acme Inc.")]
    pub name: String,
}

/// A change to an organization.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganizationBody {
    #[schema(min_length = 1, max_length = 128)]
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationBody {
    #[schema(example = "org_0123456789abcdef")]
    pub id: String,
    pub slug: String,
    pub name: String,
    /// How many services it holds.
    pub service_count: u64,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<pb::Organization> for OrganizationBody {
    fn from(organization: pb::Organization) -> Self {
        Self {
            id: organization.id,
            slug: organization.slug,
            name: organization.name,
            service_count: organization.services,
            created_at: time_from_ms(organization.created_at_ms),
            updated_at: time_from_ms(organization.updated_at_ms),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationListBody {
    /// By slug.
    pub organizations: Vec<OrganizationBody>,
}

/// Create an organization
#[utoipa::path(
    post,
    path = "/api/organizations",
    tag = "directory",
    request_body(content = CreateOrganizationBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = OrganizationBody),
        r::Authenticated,
        r::JsonBody,
    )
)]
pub(crate) async fn create_organization(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<CreateOrganizationBody>,
) -> Result<(StatusCode, Json<OrganizationBody>), Problem> {
    let request = principal.grpc_request(pb::CreateOrganizationRequest {
        slug: body.slug,
        name: body.name,
    });
    let organization = state.directory.clone().create_organization(request).await?.into_inner();
    Ok((StatusCode::CREATED, Json(organization.into())))
}

/// List organizations
#[utoipa::path(
    get,
    path = "/api/organizations",
    tag = "directory",
    responses(
        (status = 200, description = "The account's organizations", body = OrganizationListBody),
        r::Authenticated,
    )
)]
pub(crate) async fn list_organizations(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<OrganizationListBody>, Problem> {
    let request = principal.grpc_request(pb::ListOrganizationsRequest {});
    let listed = state.directory.clone().list_organizations(request).await?.into_inner();
    Ok(Json(OrganizationListBody {
        organizations: listed.organizations.into_iter().map(Into::into).collect(),
    }))
}

/// Get an organization
#[utoipa::path(
    get,
    path = "/api/organizations/{org_slug}",
    tag = "directory",
    params(("org_slug" = String, Path, description = "The organization's slug")),
    responses(
        (status = 200, description = "The organization", body = OrganizationBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn get_organization(
    State(state): State<AppState>,
    principal: Principal,
    Path(org_slug): Path<String>,
) -> Result<Json<OrganizationBody>, Problem> {
    let request = principal.grpc_request(pb::OrganizationRef { org_slug });
    let organization = state.directory.clone().get_organization(request).await?.into_inner();
    Ok(Json(organization.into()))
}

/// Rename an organization
#[utoipa::path(
    patch,
    path = "/api/organizations/{org_slug}",
    tag = "directory",
    params(("org_slug" = String, Path, description = "The organization's slug")),
    request_body(content = UpdateOrganizationBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The organization", body = OrganizationBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
        r::JsonBody,
    )
)]
pub(crate) async fn update_organization(
    State(state): State<AppState>,
    principal: Principal,
    Path(org_slug): Path<String>,
    ValidJson(body): ValidJson<UpdateOrganizationBody>,
) -> Result<Json<OrganizationBody>, Problem> {
    let request = principal.grpc_request(pb::UpdateOrganizationRequest {
        org_slug,
        name: body.name,
    });
    let organization = state.directory.clone().update_organization(request).await?.into_inner();
    Ok(Json(organization.into()))
}

/// Delete an organization
///
/// Only once it holds no services (`422 UNPROCESSABLE` before): each service takes its users,
/// subscriptions and keys with it, which should not happen by accident.
#[utoipa::path(
    delete,
    path = "/api/organizations/{org_slug}",
    tag = "directory",
    params(("org_slug" = String, Path, description = "The organization's slug")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, response = r::NotFound),
        (status = 422, response = r::Unprocessable),
        r::Authenticated,
    )
)]
pub(crate) async fn delete_organization(
    State(state): State<AppState>,
    principal: Principal,
    Path(org_slug): Path<String>,
) -> Result<StatusCode, Problem> {
    let request = principal.grpc_request(pb::OrganizationRef { org_slug });
    state.directory.clone().delete_organization(request).await?;
    Ok(StatusCode::NO_CONTENT)
}
