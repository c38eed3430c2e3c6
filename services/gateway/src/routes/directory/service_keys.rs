//! `/api/organizations/{org_slug}/services/{service_slug}/api-keys`: a service's API keys, managed
//! with an account credential. The secret (`lk_svc_…`) is answered once, at creation.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use chrono::{DateTime, Utc};
use latchkey_errors::ApiError;
use latchkey_ids::ServiceKeyId;
use latchkey_proto::directory::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    json::ValidJson, openapi::responses as r, principal::Principal, problem::Problem, routes::time_from_ms,
    state::AppState,
};

/// What a service key may do.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, ToSchema)]
pub enum ServicePermission {
    /// Every `GET` of the service API.
    #[serde(rename = "service:read")]
    Read,
    /// Everything else: users, subscriptions, the service's info, provider tokens.
    #[serde(rename = "service:write")]
    Write,
}

impl ServicePermission {
    fn as_str(self) -> &'static str {
        match self {
            Self::Read => "service:read",
            Self::Write => "service:write",
        }
    }
}

/// A new service key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceKeyBody {
    /// 1 to 128 characters, e.g. what uses it.
    #[schema(min_length = 1, max_length = 128, example = "Internal Scraper")]
    pub name: String,
    /// Absent or empty: both.
    #[schema(max_items = 2)]
    pub permissions: Option<Vec<ServicePermission>>,
}

/// A service key as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceKeyBody {
    #[schema(example = "skey_0123456789abcdef")]
    pub id: String,
    pub name: String,
    /// `lk_svc_` and the secret's first four characters.
    #[schema(example = "lk_svc_Ab3x")]
    pub prefix: String,
    #[schema(value_type = Vec<ServicePermission>)]
    pub permissions: Vec<String>,
    pub created_at: Option<DateTime<Utc>>,
}

impl From<pb::ServiceKey> for ServiceKeyBody {
    fn from(key: pb::ServiceKey) -> Self {
        Self {
            id: key.id,
            name: key.name,
            prefix: key.prefix,
            permissions: key.permissions,
            created_at: time_from_ms(key.created_at_ms),
        }
    }
}

/// A key just created, with its secret: shown this once.
#[derive(Serialize, ToSchema)]
pub struct CreatedServiceKeyBody {
    #[schema(example = "skey_0123456789abcdef")]
    pub id: String,
    pub name: String,
    pub prefix: String,
    #[schema(value_type = Vec<ServicePermission>)]
    pub permissions: Vec<String>,
    pub created_at: Option<DateTime<Utc>>,
    /// The key: send it as `X-Api-Key` to `/api/service/*`. Latchkey keeps only its hash.
    #[schema(example = "lk_svc_Ab3xK9mQ2vB7nL4pR6tY1wZ0cJ5hG2dA")]
    pub key: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceKeyListBody {
    /// Oldest first.
    pub api_keys: Vec<ServiceKeyBody>,
}

/// Create a service API key
#[utoipa::path(
    post,
    path = "/api/organizations/{org_slug}/services/{service_slug}/api-keys",
    tag = "directory",
    params(
        ("org_slug" = String, Path, description = "The organization's slug"),
        ("service_slug" = String, Path, description = "The service's slug"),
    ),
    request_body(content = CreateServiceKeyBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The key, with its secret (shown once)", body = CreatedServiceKeyBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
        r::JsonBody,
    )
)]
pub(crate) async fn create_service_key(
    State(state): State<AppState>,
    principal: Principal,
    Path((org_slug, service_slug)): Path<(String, String)>,
    ValidJson(body): ValidJson<CreateServiceKeyBody>,
) -> Result<(StatusCode, Json<CreatedServiceKeyBody>), Problem> {
    let request = principal.grpc_request(pb::CreateServiceKeyRequest {
        service: Some(pb::ServiceRef { org_slug, service_slug }),
        name: body.name,
        permissions: body
            .permissions
            .unwrap_or_default()
            .into_iter()
            .map(|permission| permission.as_str().to_owned())
            .collect(),
    });
    let created = state.directory.clone().create_service_key(request).await?.into_inner();
    let key = ServiceKeyBody::from(created.key.unwrap_or_default());
    Ok((
        StatusCode::CREATED,
        Json(CreatedServiceKeyBody {
            id: key.id,
            name: key.name,
            prefix: key.prefix,
            permissions: key.permissions,
            created_at: key.created_at,
            key: created.secret,
        }),
    ))
}

/// List a service's API keys
#[utoipa::path(
    get,
    path = "/api/organizations/{org_slug}/services/{service_slug}/api-keys",
    tag = "directory",
    params(
        ("org_slug" = String, Path, description = "The organization's slug"),
        ("service_slug" = String, Path, description = "The service's slug"),
    ),
    responses(
        (status = 200, description = "The keys, without their secrets", body = ServiceKeyListBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn list_service_keys(
    State(state): State<AppState>,
    principal: Principal,
    Path((org_slug, service_slug)): Path<(String, String)>,
) -> Result<Json<ServiceKeyListBody>, Problem> {
    let request = principal.grpc_request(pb::ServiceRef { org_slug, service_slug });
    let listed = state.directory.clone().list_service_keys(request).await?.into_inner();
    Ok(Json(ServiceKeyListBody {
        api_keys: listed.keys.into_iter().map(Into::into).collect(),
    }))
}

/// Delete a service API key
///
/// It authenticates nothing from the moment this answers.
#[utoipa::path(
    delete,
    path = "/api/organizations/{org_slug}/services/{service_slug}/api-keys/{api_key_id}",
    tag = "directory",
    params(
        ("org_slug" = String, Path, description = "The organization's slug"),
        ("service_slug" = String, Path, description = "The service's slug"),
        ("api_key_id" = String, Path, description = "The key's id (`skey_…`)"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn delete_service_key(
    State(state): State<AppState>,
    principal: Principal,
    Path((org_slug, service_slug, api_key_id)): Path<(String, String, String)>,
) -> Result<StatusCode, Problem> {
    let key_id = ServiceKeyId::try_from(api_key_id).map_err(|_| Problem(ApiError::not_found("service API key")))?;
    let request = principal.grpc_request(pb::DeleteServiceKeyRequest {
        service: Some(pb::ServiceRef { org_slug, service_slug }),
        key_id: key_id.to_string(),
    });
    state.directory.clone().delete_service_key(request).await?;
    // This gateway's cache forgets it now; the others on `service_key.deleted`.
    state.service_keys.forget_service_key(key_id.as_str());
    Ok(StatusCode::NO_CONTENT)
}
