//! `/v1/webhooks`: the account's webhook endpoints and their deliveries, through the webhook
//! service. Deliveries follow the Standard Webhooks specification (see docs/webhooks.md): any
//! conforming library verifies them with the `whsec_…` secret returned at creation.

mod bodies;

use axum::{Json, extract::State, http::StatusCode};
use chrono::Utc;
use latchkey_ids::{EndpointId, MessageId};
use latchkey_proto::webhook::v1 as pb;

use bodies::{
    CreateWebhookBody, DeliveriesQuery, DeliveryBody, DeliveryList, MessageBody, ReplayBody, ReplayResult,
    RotateSecretBody, WebhookBody, WebhookList, WebhookWithSecret,
};

use crate::{
    id_path::IdPath, json::ValidJson, openapi::responses as r, principal::Principal, problem::Problem,
    query::ValidQuery, routes::time_from_ms, state::AppState,
};

fn time(ms: i64, what: &str) -> Result<chrono::DateTime<Utc>, Problem> {
    time_from_ms(ms).ok_or_else(|| Problem::internal(&format_args!("{what} has an invalid timestamp")))
}

fn webhook_body(endpoint: pb::Endpoint) -> Result<WebhookBody, Problem> {
    Ok(WebhookBody {
        created_at: time(endpoint.created_at_ms, &endpoint.id)?,
        updated_at: time(endpoint.updated_at_ms, &endpoint.id)?,
        failing_since: time_from_ms(endpoint.failing_since_ms),
        previous_secret_expires_at: time_from_ms(endpoint.previous_secret_expires_at_ms),
        description: Some(endpoint.description).filter(|d| !d.is_empty()),
        disabled_reason: Some(endpoint.disabled_reason).filter(|r| !r.is_empty()),
        id: endpoint.id,
        url: endpoint.url,
        verified_domain: endpoint.verified_domain,
        events: endpoint.events,
        status: endpoint.status,
    })
}

fn with_secret(created: pb::EndpointWithSecret) -> Result<WebhookWithSecret, Problem> {
    let endpoint = created
        .endpoint
        .ok_or_else(|| Problem::internal(&"the webhook service answered without the endpoint"))?;
    Ok(WebhookWithSecret {
        endpoint: webhook_body(endpoint)?,
        secret: created.secret,
    })
}

fn message_body(message: pb::Message) -> Result<MessageBody, Problem> {
    Ok(MessageBody {
        created_at: time(message.created_at_ms, &message.id)?,
        next_attempt_at: time_from_ms(message.next_attempt_at_ms),
        id: message.id,
        endpoint_id: message.endpoint_id,
        event_type: message.event_type,
        status: message.status,
        attempts: message.attempts,
    })
}

/// Register a webhook endpoint
///
/// Answers the endpoint and its `whsec_…` signing secret, shown this once.
#[utoipa::path(
    post,
    path = "/v1/webhooks",
    tag = "webhooks",
    request_body(content = CreateWebhookBody, content_type = "application/json"),
    responses(
        (status = 402, response = r::PlanLimit),
        (status = 201, description = "The endpoint and its signing secret", body = WebhookWithSecret),
        r::Authenticated,
        r::JsonBody,
    )
)]
pub(crate) async fn create_webhook(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<CreateWebhookBody>,
) -> Result<(StatusCode, Json<WebhookWithSecret>), Problem> {
    let request = principal.grpc_request(pb::CreateEndpointRequest {
        url: body.url,
        events: body.events,
        description: body.description,
    });
    let created = state.webhook.clone().create_endpoint(request).await?.into_inner();
    Ok((StatusCode::CREATED, Json(with_secret(created)?)))
}

/// List webhook endpoints
///
/// Every endpoint of the account, oldest first, without secrets.
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    tag = "webhooks",
    responses(
        (status = 200, description = "The account's endpoints", body = WebhookList),
        r::Authenticated,
    )
)]
pub(crate) async fn list_webhooks(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<WebhookList>, Problem> {
    let request = principal.grpc_request(pb::ListEndpointsRequest {});
    let listed = state.webhook.clone().list_endpoints(request).await?.into_inner();
    let data = listed
        .endpoints
        .into_iter()
        .map(webhook_body)
        .collect::<Result<_, _>>()?;
    Ok(Json(WebhookList { data }))
}

/// Get a webhook endpoint
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id, `whe_…`")),
    responses(
        (status = 200, description = "The endpoint", body = WebhookBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn get_webhook(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath<EndpointId>,
) -> Result<Json<WebhookBody>, Problem> {
    let request = principal.grpc_request(pb::GetEndpointRequest { id: id.into_string() });
    let endpoint = state.webhook.clone().get_endpoint(request).await?.into_inner();
    Ok(Json(webhook_body(endpoint)?))
}

/// Delete a webhook endpoint
///
/// Messages still waiting for it are dropped.
#[utoipa::path(
    delete,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id, `whe_…`")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn delete_webhook(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath<EndpointId>,
) -> Result<StatusCode, Problem> {
    let request = principal.grpc_request(pb::DeleteEndpointRequest { id: id.into_string() });
    state.webhook.clone().delete_endpoint(request).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Rotate a webhook endpoint's signing secret
///
/// Answers the new secret, shown this once. During the overlap window every delivery carries two
/// signatures in `webhook-signature`, one per secret, so receivers can switch without losing any.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/rotate-secret",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id, `whe_…`")),
    request_body(content = Option<RotateSecretBody>, content_type = "application/json",
        description = "Optional: without a body the current secret keeps signing for the default overlap"),
    responses(
        (status = 200, description = "The endpoint and its new signing secret", body = WebhookWithSecret),
        (status = 404, response = r::NotFound),
        r::Authenticated,
        r::JsonBody,
    )
)]
pub(crate) async fn rotate_webhook_secret(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath<EndpointId>,
    ValidJson(body): ValidJson<RotateSecretBody>,
) -> Result<Json<WebhookWithSecret>, Problem> {
    let request = principal.grpc_request(pb::RotateSecretRequest {
        id: id.into_string(),
        overlap_secs: body.overlap_seconds,
    });
    let rotated = state.webhook.clone().rotate_secret(request).await?.into_inner();
    Ok(Json(with_secret(rotated)?))
}

/// Enable a disabled webhook endpoint
///
/// Makes an endpoint disabled by a 410 Gone or by failing for days active again, with its failure
/// tracking started over, and emits `endpoint.enabled`. Enabling an active endpoint changes nothing.
/// Messages that failed while it was disabled are not sent again: replay them
/// (`POST /v1/webhooks/{id}/replay`) if the receiver should get them.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/enable",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id, `whe_…`")),
    responses(
        (status = 200, description = "The endpoint, active", body = WebhookBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn enable_webhook(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath<EndpointId>,
) -> Result<Json<WebhookBody>, Problem> {
    let request = principal.grpc_request(pb::EnableEndpointRequest { id: id.into_string() });
    let endpoint = state.webhook.clone().enable_endpoint(request).await?.into_inner();
    Ok(Json(webhook_body(endpoint)?))
}

/// List an endpoint's delivery attempts
///
/// Newest first, with the status, latency and the first KiB of each response.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/deliveries",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id, `whe_…`"), DeliveriesQuery),
    responses(
        (status = 200, description = "A page of attempts", body = DeliveryList),
        (status = 400, response = r::BadRequest),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn list_deliveries(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath<EndpointId>,
    ValidQuery(query): ValidQuery<DeliveriesQuery>,
) -> Result<Json<DeliveryList>, Problem> {
    let request = principal.grpc_request(pb::ListAttemptsRequest {
        endpoint_id: id.into_string(),
        limit: query.limit.unwrap_or(0),
        before: query.before.unwrap_or_default(),
    });
    let page = state.webhook.clone().list_attempts(request).await?.into_inner();
    let data = page
        .attempts
        .into_iter()
        .map(|attempt| {
            Ok(DeliveryBody {
                attempted_at: time(attempt.attempted_at_ms, &attempt.id)?,
                status_code: u16::try_from(attempt.status_code).ok().filter(|code| *code != 0),
                error: Some(attempt.error).filter(|error| !error.is_empty()),
                id: attempt.id,
                message_id: attempt.message_id,
                event_type: attempt.event_type,
                message_status: attempt.message_status,
                outcome: attempt.outcome,
                latency_ms: attempt.latency_ms,
                response_snippet: attempt.response_snippet,
            })
        })
        .collect::<Result<_, Problem>>()?;
    Ok(Json(DeliveryList {
        data,
        next_cursor: Some(page.next_before).filter(|cursor| !cursor.is_empty()),
    }))
}

/// Retry a message
///
/// Sends the message again now, with the same `webhook-id` and body. The endpoint must be active.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/deliveries/{message_id}/retry",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "The endpoint's id, `whe_…`"),
        ("message_id" = String, Path, description = "The message's id, `msg_…` (its webhook-id)"),
    ),
    responses(
        (status = 202, description = "Queued", body = MessageBody),
        (status = 404, response = r::NotFound),
        (status = 422, response = r::Unprocessable),
        r::Authenticated,
    )
)]
pub(crate) async fn retry_delivery(
    State(state): State<AppState>,
    principal: Principal,
    IdPath((id, message_id)): IdPath<(EndpointId, MessageId)>,
) -> Result<(StatusCode, Json<MessageBody>), Problem> {
    let request = principal.grpc_request(pb::RetryMessageRequest {
        endpoint_id: id.into_string(),
        message_id: message_id.into_string(),
    });
    let message = state.webhook.clone().retry_message(request).await?.into_inner();
    Ok((StatusCode::ACCEPTED, Json(message_body(message)?)))
}

/// Replay a time range
///
/// Sends again every message to the endpoint whose event happened in `[since, until)`, each with
/// its own `webhook-id` and body as first sent.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/replay",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id, `whe_…`")),
    request_body(content = ReplayBody, content_type = "application/json"),
    responses(
        (status = 202, description = "Queued", body = ReplayResult),
        (status = 404, response = r::NotFound),
        (status = 422, response = r::Unprocessable),
        r::Authenticated,
        r::JsonBody,
    )
)]
pub(crate) async fn replay_webhook(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath<EndpointId>,
    ValidJson(body): ValidJson<ReplayBody>,
) -> Result<(StatusCode, Json<ReplayResult>), Problem> {
    let request = principal.grpc_request(pb::ReplayRequest {
        endpoint_id: id.into_string(),
        since_ms: body.since.timestamp_millis(),
        until_ms: body.until.unwrap_or_else(Utc::now).timestamp_millis(),
    });
    let replayed = state.webhook.clone().replay(request).await?.into_inner();
    Ok((
        StatusCode::ACCEPTED,
        Json(ReplayResult {
            queued: replayed.queued,
        }),
    ))
}

/// Send a test event
///
/// Queues a `webhook.test` message to the endpoint, whatever events it subscribes to.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/test",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id, `whe_…`")),
    responses(
        (status = 202, description = "Queued", body = MessageBody),
        (status = 404, response = r::NotFound),
        (status = 422, response = r::Unprocessable),
        r::Authenticated,
    )
)]
pub(crate) async fn test_webhook(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath<EndpointId>,
) -> Result<(StatusCode, Json<MessageBody>), Problem> {
    let request = principal.grpc_request(pb::SendTestRequest {
        endpoint_id: id.into_string(),
    });
    let message = state.webhook.clone().send_test(request).await?.into_inner();
    Ok((StatusCode::ACCEPTED, Json(message_body(message)?)))
}
