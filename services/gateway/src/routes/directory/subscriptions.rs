//! `/api/service/subscriptions`: the calling service's subscriptions, one per user, addressed by
//! the user's id (AuthOS's `createSubscription`, …).

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use chrono::{DateTime, Utc};
use latchkey_proto::directory::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{PageQuery, users::user_id};
use crate::{
    json::ValidJson, openapi::responses as r, problem::Problem, query::ValidQuery, routes::time_from_ms,
    service_caller::ServiceCaller, state::AppState,
};

#[derive(Clone, Copy, Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Active,
    Trialing,
    PastDue,
    Canceled,
}

impl SubscriptionStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Trialing => "trialing",
            Self::PastDue => "past_due",
            Self::Canceled => "canceled",
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionBody {
    #[schema(example = "usr_0123456789abcdef")]
    pub user_id: String,
    #[schema(example = "pro")]
    pub plan_id: String,
    #[schema(value_type = SubscriptionStatus)]
    pub status: String,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<pb::Subscription> for SubscriptionBody {
    fn from(subscription: pb::Subscription) -> Self {
        Self {
            user_id: subscription.user_id,
            plan_id: subscription.plan_id,
            status: subscription.status,
            created_at: time_from_ms(subscription.created_at_ms),
            updated_at: time_from_ms(subscription.updated_at_ms),
        }
    }
}

/// A new subscription: the user must be the service's, and have none yet.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubscriptionBody {
    #[schema(example = "usr_0123456789abcdef")]
    pub user_id: String,
    /// The service's own plan name: 1 to 128 of letters, digits, `_`, `-`, `.` and `:`.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[A-Za-z0-9_.:-]+$", example = "pro")]
    pub plan_id: String,
    /// Default `active`.
    pub status: Option<SubscriptionStatus>,
}

/// A change to a subscription: what is present changes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSubscriptionBody {
    #[schema(min_length = 1, max_length = 128, pattern = r"^[A-Za-z0-9_.:-]+$")]
    pub plan_id: Option<String>,
    pub status: Option<SubscriptionStatus>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionListBody {
    /// Oldest first.
    pub subscriptions: Vec<SubscriptionBody>,
    pub total: u64,
}

fn user_ref(caller: &ServiceCaller, user: String) -> Result<pb::UserRef, Problem> {
    Ok(pb::UserRef {
        service_id: caller.service_id.to_string(),
        user_id: user_id(user, "subscription")?.into_string(),
    })
}

/// List the service's subscriptions
#[utoipa::path(
    get,
    path = "/api/service/subscriptions",
    tag = "service-api",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of subscriptions", body = SubscriptionListBody),
        r::ServiceApi,
    )
)]
pub(crate) async fn list_subscriptions(
    State(state): State<AppState>,
    caller: ServiceCaller,
    ValidQuery(page): ValidQuery<PageQuery>,
) -> Result<Json<SubscriptionListBody>, Problem> {
    let request = caller.grpc_request(pb::ListSubscriptionsRequest {
        service_id: caller.service_id.to_string(),
        limit: page.limit,
        offset: page.offset.unwrap_or(0),
    });
    let listed = state.directory.clone().list_subscriptions(request).await?.into_inner();
    Ok(Json(SubscriptionListBody {
        subscriptions: listed.subscriptions.into_iter().map(Into::into).collect(),
        total: listed.total,
    }))
}

/// Subscribe a user of the service
#[utoipa::path(
    post,
    path = "/api/service/subscriptions",
    tag = "service-api",
    request_body(content = CreateSubscriptionBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = SubscriptionBody,
            links(
                ("GetSubscription" = (operation_id = "get_subscription",
                    parameters(("user_id" = "$response.body#/user_id")), description = "The subscription")),
                ("UpdateSubscription" = (operation_id = "update_subscription",
                    parameters(("user_id" = "$response.body#/user_id")), description = "Change it")),
                ("DeleteSubscription" = (operation_id = "delete_subscription",
                    parameters(("user_id" = "$response.body#/user_id")), description = "Remove it")),
            )),
        r::ServiceApi,
        r::JsonBody,
    )
)]
pub(crate) async fn create_subscription(
    State(state): State<AppState>,
    caller: ServiceCaller,
    ValidJson(body): ValidJson<CreateSubscriptionBody>,
) -> Result<(StatusCode, Json<SubscriptionBody>), Problem> {
    let request = caller.grpc_request(pb::CreateSubscriptionRequest {
        service_id: caller.service_id.to_string(),
        user_id: body.user_id,
        plan_id: body.plan_id,
        status: body.status.map(|status| status.as_str().to_owned()).unwrap_or_default(),
    });
    let subscription = state.directory.clone().create_subscription(request).await?.into_inner();
    Ok((StatusCode::CREATED, Json(subscription.into())))
}

/// Get a user's subscription
#[utoipa::path(
    get,
    path = "/api/service/subscriptions/{user_id}",
    tag = "service-api",
    params(("user_id" = String, Path, description = "The user's id (`usr_…`)")),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionBody),
        r::ServiceApi,
    )
)]
pub(crate) async fn get_subscription(
    State(state): State<AppState>,
    caller: ServiceCaller,
    Path(user): Path<String>,
) -> Result<Json<SubscriptionBody>, Problem> {
    let request = caller.grpc_request(user_ref(&caller, user)?);
    let subscription = state.directory.clone().get_subscription(request).await?.into_inner();
    Ok(Json(subscription.into()))
}

/// Change a user's subscription
///
/// A change to `canceled` is announced as `subscription.canceled`, any other as
/// `subscription.updated`.
#[utoipa::path(
    patch,
    path = "/api/service/subscriptions/{user_id}",
    tag = "service-api",
    params(("user_id" = String, Path, description = "The user's id (`usr_…`)")),
    request_body(content = UpdateSubscriptionBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionBody),
        r::ServiceApi,
        r::JsonBody,
    )
)]
pub(crate) async fn update_subscription(
    State(state): State<AppState>,
    caller: ServiceCaller,
    Path(user): Path<String>,
    ValidJson(body): ValidJson<UpdateSubscriptionBody>,
) -> Result<Json<SubscriptionBody>, Problem> {
    let request = caller.grpc_request(pb::UpdateSubscriptionRequest {
        user: Some(user_ref(&caller, user)?),
        plan_id: body.plan_id,
        status: body.status.map(|status| status.as_str().to_owned()),
    });
    let subscription = state.directory.clone().update_subscription(request).await?.into_inner();
    Ok(Json(subscription.into()))
}

/// Delete a user's subscription
#[utoipa::path(
    delete,
    path = "/api/service/subscriptions/{user_id}",
    tag = "service-api",
    params(("user_id" = String, Path, description = "The user's id (`usr_…`)")),
    responses(
        (status = 204, description = "Deleted"),
        r::ServiceApi,
    )
)]
pub(crate) async fn delete_subscription(
    State(state): State<AppState>,
    caller: ServiceCaller,
    Path(user): Path<String>,
) -> Result<StatusCode, Problem> {
    let request = caller.grpc_request(user_ref(&caller, user)?);
    state.directory.clone().delete_subscription(request).await?;
    Ok(StatusCode::NO_CONTENT)
}
