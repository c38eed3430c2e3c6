//! `/api/service/users`: the calling service's users (AuthOS's `listUsers`, `createUser`, …).

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use chrono::{DateTime, Utc};
use latchkey_errors::ApiError;
use latchkey_ids::ServiceUserId;
use latchkey_proto::directory::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::PageQuery;
use crate::{
    json::ValidJson, openapi::responses as r, problem::Problem, query::ValidQuery, routes::time_from_ms,
    service_caller::ServiceCaller, state::AppState,
};

/// A user of the service.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    #[schema(example = "usr_0123456789abcdef")]
    pub id: String,
    #[schema(example = "user@example.com")]
    pub email: String,
    /// `null` when it has none.
    pub name: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<pb::User> for UserBody {
    fn from(user: pb::User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            name: Some(user.name).filter(|name| !name.is_empty()),
            created_at: time_from_ms(user.created_at_ms),
            updated_at: time_from_ms(user.updated_at_ms),
        }
    }
}

/// A new user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserBody {
    /// Unique in the service, ignoring case; at most 254 characters.
    #[schema(max_length = 254, example = "user@example.com")]
    pub email: String,
    #[schema(max_length = 128)]
    pub name: Option<String>,
}

/// A change to a user: what is present changes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserBody {
    #[schema(max_length = 254)]
    pub email: Option<String>,
    /// Empty: none.
    #[schema(max_length = 128)]
    pub name: Option<String>,
}

/// A page of users and how many the service has.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserListBody {
    /// Oldest first.
    pub users: Vec<UserBody>,
    pub total: u64,
}

/// A user id of the path; a malformed one names no user.
pub(super) fn user_id(text: String, what: &str) -> Result<ServiceUserId, Problem> {
    ServiceUserId::try_from(text).map_err(|_| Problem(ApiError::not_found(what)))
}

/// List the service's users
#[utoipa::path(
    get,
    path = "/api/service/users",
    tag = "service-api",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of users", body = UserListBody),
        r::ServiceApi,
    )
)]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    caller: ServiceCaller,
    ValidQuery(page): ValidQuery<PageQuery>,
) -> Result<Json<UserListBody>, Problem> {
    let request = caller.grpc_request(pb::ListUsersRequest {
        service_id: caller.service_id.to_string(),
        limit: page.limit,
        offset: page.offset.unwrap_or(0),
    });
    let listed = state.directory.clone().list_users(request).await?.into_inner();
    Ok(Json(UserListBody {
        users: listed.users.into_iter().map(Into::into).collect(),
        total: listed.total,
    }))
}

/// Create a user of the service
#[utoipa::path(
    post,
    path = "/api/service/users",
    tag = "service-api",
    request_body(content = CreateUserBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = UserBody,
            links(
                ("GetUser" = (operation_id = "get_user", parameters(("user_id" = "$response.body#/id")),
                    description = "The user as it stands")),
                ("UpdateUser" = (operation_id = "update_user", parameters(("user_id" = "$response.body#/id")),
                    description = "Change the user")),
                ("DeleteUser" = (operation_id = "delete_user", parameters(("user_id" = "$response.body#/id")),
                    description = "Delete the user")),
                ("CreateSubscription" = (operation_id = "create_subscription",
                    request_body = json!({"user_id": "$response.body#/id", "plan_id": "free"}),
                    description = "Subscribe the new user")),
            )),
        (status = 402, response = r::PlanLimit),
        r::ServiceApi,
        r::JsonBody,
    )
)]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    caller: ServiceCaller,
    ValidJson(body): ValidJson<CreateUserBody>,
) -> Result<(StatusCode, Json<UserBody>), Problem> {
    let request = caller.grpc_request(pb::CreateUserRequest {
        service_id: caller.service_id.to_string(),
        email: body.email,
        name: body.name.unwrap_or_default(),
    });
    let user = state.directory.clone().create_user(request).await?.into_inner();
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// Get a user of the service
#[utoipa::path(
    get,
    path = "/api/service/users/{user_id}",
    tag = "service-api",
    params(("user_id" = String, Path, description = "The user's id (`usr_…`)")),
    responses(
        (status = 200, description = "The user", body = UserBody),
        r::ServiceApi,
    )
)]
pub(crate) async fn get_user(
    State(state): State<AppState>,
    caller: ServiceCaller,
    Path(user): Path<String>,
) -> Result<Json<UserBody>, Problem> {
    let user = user_id(user, "user")?;
    let request = caller.grpc_request(pb::UserRef {
        service_id: caller.service_id.to_string(),
        user_id: user.into_string(),
    });
    let user = state.directory.clone().get_user(request).await?.into_inner();
    Ok(Json(user.into()))
}

/// Change a user of the service
#[utoipa::path(
    patch,
    path = "/api/service/users/{user_id}",
    tag = "service-api",
    params(("user_id" = String, Path, description = "The user's id (`usr_…`)")),
    request_body(content = UpdateUserBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The user", body = UserBody),
        r::ServiceApi,
        r::JsonBody,
    )
)]
pub(crate) async fn update_user(
    State(state): State<AppState>,
    caller: ServiceCaller,
    Path(user): Path<String>,
    ValidJson(body): ValidJson<UpdateUserBody>,
) -> Result<Json<UserBody>, Problem> {
    let user = user_id(user, "user")?;
    let request = caller.grpc_request(pb::UpdateUserRequest {
        user: Some(pb::UserRef {
            service_id: caller.service_id.to_string(),
            user_id: user.into_string(),
        }),
        email: body.email,
        name: body.name,
    });
    let user = state.directory.clone().update_user(request).await?.into_inner();
    Ok(Json(user.into()))
}

/// Delete a user of the service
///
/// With its subscription.
#[utoipa::path(
    delete,
    path = "/api/service/users/{user_id}",
    tag = "service-api",
    params(("user_id" = String, Path, description = "The user's id (`usr_…`)")),
    responses(
        (status = 204, description = "Deleted"),
        r::ServiceApi,
    )
)]
pub(crate) async fn delete_user(
    State(state): State<AppState>,
    caller: ServiceCaller,
    Path(user): Path<String>,
) -> Result<StatusCode, Problem> {
    let user = user_id(user, "user")?;
    let request = caller.grpc_request(pb::UserRef {
        service_id: caller.service_id.to_string(),
        user_id: user.into_string(),
    });
    state.directory.clone().delete_user(request).await?;
    Ok(StatusCode::NO_CONTENT)
}
