//! The gRPC face of the service: unpack, find out which account calls, call the domain, convert back.
//! Only mesh callers (the gateway) reach it; the account is always the caller's, from the mesh
//! metadata, never a field of the message. Ids are parsed here, before anything else of the request
//! is looked at: one that is not an id of its kind names nothing, and is answered NOT_FOUND as an
//! unknown one is.

use latchkey_ids::{AccountId, EndpointId, MessageId};
use latchkey_proto::webhook::v1::{self as pb, webhook_service_server::WebhookService};
use latchkey_server::Caller;
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::{Attempt, CreatedEndpoint, Endpoint, EndpointInput, Message, Webhook, WebhookError};

pub(crate) struct GrpcApi {
    service: Webhook,
}

impl GrpcApi {
    pub(crate) fn new(service: Webhook) -> Self {
        Self { service }
    }

    /// The endpoints as answered, each flagged when its host is on a verified domain of `account`.
    async fn answered(&self, account: &AccountId, endpoints: Vec<Endpoint>) -> Vec<pb::Endpoint> {
        let urls: Vec<&str> = endpoints.iter().map(|endpoint| endpoint.url.as_str()).collect();
        let flags = self.service.on_verified_domains(account, &urls).await;
        endpoints
            .into_iter()
            .zip(flags)
            .map(|(endpoint, verified_domain)| pb::Endpoint {
                verified_domain,
                ..endpoint_to_pb(endpoint)
            })
            .collect()
    }

    async fn answered_one(&self, account: &AccountId, endpoint: Endpoint) -> pb::Endpoint {
        self.answered(account, vec![endpoint]).await.remove(0)
    }

    async fn with_secret(&self, account: &AccountId, created: CreatedEndpoint) -> pb::EndpointWithSecret {
        pb::EndpointWithSecret {
            endpoint: Some(self.answered_one(account, created.endpoint).await),
            secret: created.secret,
        }
    }
}

/// The endpoint a request names; a malformed id names none.
fn endpoint_id(text: String) -> Result<EndpointId, WebhookError> {
    EndpointId::try_from(text).map_err(|_| WebhookError::EndpointNotFound)
}

fn endpoint_to_pb(endpoint: Endpoint) -> pb::Endpoint {
    pb::Endpoint {
        id: endpoint.id.into_string(),
        url: endpoint.url,
        events: endpoint.events,
        description: endpoint.description.unwrap_or_default(),
        status: endpoint.status,
        disabled_reason: endpoint.disabled_reason,
        created_at_ms: endpoint.created_at_ms,
        updated_at_ms: endpoint.updated_at_ms,
        previous_secret_expires_at_ms: endpoint.previous_secret_expires_at_ms,
        failing_since_ms: endpoint.failing_since_ms,
        verified_domain: false,
    }
}

fn attempt_to_pb(attempt: Attempt) -> pb::Attempt {
    pb::Attempt {
        id: attempt.id.into_string(),
        message_id: attempt.message_id.into_string(),
        event_type: attempt.event_type,
        message_status: attempt.message_status,
        attempted_at_ms: attempt.attempted_at_ms,
        status_code: u32::from(attempt.status_code),
        outcome: attempt.outcome,
        error: attempt.error,
        latency_ms: attempt.latency_ms,
        response_snippet: attempt.response_snippet,
    }
}

fn message_to_pb(message: Message) -> pb::Message {
    pb::Message {
        id: message.id.into_string(),
        endpoint_id: message.endpoint_id.into_string(),
        event_type: message.event_type,
        status: message.status,
        attempts: u32::try_from(message.attempts).unwrap_or(u32::MAX),
        created_at_ms: message.created_at_ms,
        next_attempt_at_ms: message.next_attempt_at_ms,
    }
}

#[tonic::async_trait]
impl WebhookService for GrpcApi {
    async fn describe(&self, _request: Request<pb::DescribeRequest>) -> Result<Response<pb::DescribeResponse>, Status> {
        Ok(Response::new(pb::DescribeResponse {
            service: "webhook".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn create_endpoint(
        &self,
        request: Request<pb::CreateEndpointRequest>,
    ) -> Result<Response<pb::EndpointWithSecret>, Status> {
        let Caller { account, actor } = self.service.mesh.caller(&request)?;
        let plan = latchkey_server::plan_of(&request);
        let m = request.into_inner();
        let input = EndpointInput {
            url: m.url,
            events: m.events,
            description: m.description,
        };
        let created = self
            .service
            .create_endpoint_on_plan(&account, plan.as_deref(), actor.as_deref(), input)
            .await?;
        Ok(Response::new(self.with_secret(&account, created).await))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn list_endpoints(
        &self,
        request: Request<pb::ListEndpointsRequest>,
    ) -> Result<Response<pb::ListEndpointsResponse>, Status> {
        let account = self.service.mesh.caller(&request)?.account;
        let endpoints = self.service.list_endpoints(&account).await?;
        Ok(Response::new(pb::ListEndpointsResponse {
            endpoints: self.answered(&account, endpoints).await,
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn get_endpoint(&self, request: Request<pb::GetEndpointRequest>) -> Result<Response<pb::Endpoint>, Status> {
        let account = self.service.mesh.caller(&request)?.account;
        let id = endpoint_id(request.into_inner().id)?;
        let endpoint = self.service.get_endpoint(&account, &id).await?;
        Ok(Response::new(self.answered_one(&account, endpoint).await))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn delete_endpoint(
        &self,
        request: Request<pb::DeleteEndpointRequest>,
    ) -> Result<Response<pb::DeleteEndpointResponse>, Status> {
        let Caller { account, actor } = self.service.mesh.caller(&request)?;
        let id = endpoint_id(request.into_inner().id)?;
        self.service.delete_endpoint(&account, actor.as_deref(), &id).await?;
        Ok(Response::new(pb::DeleteEndpointResponse {}))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn rotate_secret(
        &self,
        request: Request<pb::RotateSecretRequest>,
    ) -> Result<Response<pb::EndpointWithSecret>, Status> {
        let Caller { account, actor } = self.service.mesh.caller(&request)?;
        let m = request.into_inner();
        let id = endpoint_id(m.id)?;
        let rotated = self
            .service
            .rotate_secret(&account, actor.as_deref(), &id, m.overlap_secs)
            .await?;
        Ok(Response::new(self.with_secret(&account, rotated).await))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn enable_endpoint(
        &self,
        request: Request<pb::EnableEndpointRequest>,
    ) -> Result<Response<pb::Endpoint>, Status> {
        let Caller { account, actor } = self.service.mesh.caller(&request)?;
        let id = endpoint_id(request.into_inner().id)?;
        let endpoint = self.service.enable_endpoint(&account, actor.as_deref(), &id).await?;
        Ok(Response::new(self.answered_one(&account, endpoint).await))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn list_attempts(
        &self,
        request: Request<pb::ListAttemptsRequest>,
    ) -> Result<Response<pb::ListAttemptsResponse>, Status> {
        let account = self.service.mesh.caller(&request)?.account;
        let m = request.into_inner();
        let id = endpoint_id(m.endpoint_id)?;
        // The cursor is the domain's to read: it is checked after the endpoint, as before.
        let before = Some(m.before.as_str()).filter(|before| !before.is_empty());
        let page = self.service.list_attempts(&account, &id, m.limit, before).await?;
        Ok(Response::new(pb::ListAttemptsResponse {
            attempts: page.attempts.into_iter().map(attempt_to_pb).collect(),
            next_before: page.next_before.map(String::from).unwrap_or_default(),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn retry_message(&self, request: Request<pb::RetryMessageRequest>) -> Result<Response<pb::Message>, Status> {
        let account = self.service.mesh.caller(&request)?.account;
        let m = request.into_inner();
        let id = endpoint_id(m.endpoint_id)?;
        let message_id = MessageId::try_from(m.message_id).map_err(|_| WebhookError::MessageNotFound)?;
        let message = self.service.retry_message(&account, &id, &message_id).await?;
        Ok(Response::new(message_to_pb(message)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn replay(&self, request: Request<pb::ReplayRequest>) -> Result<Response<pb::ReplayResponse>, Status> {
        let account = self.service.mesh.caller(&request)?.account;
        let m = request.into_inner();
        let id = endpoint_id(m.endpoint_id)?;
        let queued = self.service.replay(&account, &id, m.since_ms, m.until_ms).await?;
        Ok(Response::new(pb::ReplayResponse {
            queued: u32::try_from(queued).unwrap_or(u32::MAX),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn send_test(&self, request: Request<pb::SendTestRequest>) -> Result<Response<pb::Message>, Status> {
        let account = self.service.mesh.caller(&request)?.account;
        let id = endpoint_id(request.into_inner().endpoint_id)?;
        let message = self.service.send_test(&account, &id).await?;
        Ok(Response::new(message_to_pb(message)))
    }
    #[instrument(skip_all, err(level = "debug"))]
    async fn count_usage(
        &self,
        request: Request<pb::CountUsageRequest>,
    ) -> Result<Response<pb::CountUsageResponse>, Status> {
        let count = latchkey_server::plans::count_for_caller(
            &self.service.mesh,
            &self.service.db,
            &request,
            crate::endpoints::COUNT_ENDPOINTS,
            "webhook",
        )
        .await?;
        Ok(Response::new(pb::CountUsageResponse { count }))
    }
}
