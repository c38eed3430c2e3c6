//! The gRPC face of verified domains (`DomainService`): the same callers as `AgentTokenService`
//! (mesh services acting for an account, or an account API key), unpacked, checked and converted.

use latchkey_proto::agent_token::v1::{
    self as pb,
    domain_service_server::{DomainService, DomainServiceServer},
};
use latchkey_server::Caller;
use tonic::{Request, Response, Status};
use tracing::instrument;

use super::{Domain, DomainStatus};
use crate::{
    AgentToken, AgentTokenError,
    grpc::{GrpcApi, lookup_id},
};

/// The fully qualified gRPC service name, as health reports it.
pub const DOMAIN_GRPC_SERVICE: &str = "latchkey.agent_token.v1.DomainService";

pub(crate) struct DomainApi {
    api: GrpcApi,
}

/// The tonic service to add to the agent-token server's routes.
pub(crate) fn domain_service(service: AgentToken) -> DomainServiceServer<DomainApi> {
    DomainServiceServer::new(DomainApi::new(service))
}

impl DomainApi {
    pub(crate) fn new(service: AgentToken) -> Self {
        Self {
            api: GrpcApi::new(service),
        }
    }

    fn service(&self) -> &AgentToken {
        self.api.service()
    }
}

fn domain_to_pb(domain: Domain) -> pb::Domain {
    pb::Domain {
        txt_record_name: domain.txt_record_name(),
        id: domain.id.into_string(),
        domain: domain.domain,
        status: domain.status.as_str().to_owned(),
        txt_record_value: domain.challenge,
        created_at_ms: domain.created_at_ms,
        verified_at_ms: domain.verified_at_ms,
        last_checked_at_ms: domain.last_checked_at_ms,
        reason: domain
            .reason
            .map(|reason| reason.as_str().to_owned())
            .unwrap_or_default(),
    }
}

fn invalid_status() -> Status {
    AgentTokenError::Invalid(latchkey_errors::ApiError::validation(vec![
        latchkey_errors::FieldError::new("status", "must be pending, verified or failed"),
    ]))
    .into()
}

#[tonic::async_trait]
impl DomainService for DomainApi {
    #[instrument(skip_all, err(level = "debug"))]
    async fn create_domain(&self, request: Request<pb::CreateDomainRequest>) -> Result<Response<pb::Domain>, Status> {
        let Caller { account, actor } = self.api.caller(&request).await?;
        let domain = self
            .service()
            .create_domain(&account, actor.as_deref(), &request.into_inner().domain)
            .await?;
        Ok(Response::new(domain_to_pb(domain)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn list_domains(
        &self,
        request: Request<pb::ListDomainsRequest>,
    ) -> Result<Response<pb::ListDomainsResponse>, Status> {
        let account = self.api.caller(&request).await?.account;
        let status = match request.into_inner().status.as_str() {
            "" => None,
            other => Some(DomainStatus::parse(other).ok_or_else(invalid_status)?),
        };
        let domains = self.service().list_domains(&account, status).await?;
        Ok(Response::new(pb::ListDomainsResponse {
            domains: domains.into_iter().map(domain_to_pb).collect(),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn get_domain(&self, request: Request<pb::GetDomainRequest>) -> Result<Response<pb::Domain>, Status> {
        let account = self.api.caller(&request).await?.account;
        let id = lookup_id(request.into_inner().id, AgentTokenError::DomainNotFound)?;
        let domain = self.service().get_domain(&account, &id).await?;
        Ok(Response::new(domain_to_pb(domain)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn verify_domain(&self, request: Request<pb::VerifyDomainRequest>) -> Result<Response<pb::Domain>, Status> {
        let Caller { account, actor } = self.api.caller(&request).await?;
        let id = lookup_id(request.into_inner().id, AgentTokenError::DomainNotFound)?;
        let domain = self.service().verify_domain(&account, actor.as_deref(), &id).await?;
        Ok(Response::new(domain_to_pb(domain)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn delete_domain(
        &self,
        request: Request<pb::DeleteDomainRequest>,
    ) -> Result<Response<pb::DeleteDomainResponse>, Status> {
        let Caller { account, actor } = self.api.caller(&request).await?;
        let id = lookup_id(request.into_inner().id, AgentTokenError::DomainNotFound)?;
        self.service().delete_domain(&account, actor.as_deref(), &id).await?;
        Ok(Response::new(pb::DeleteDomainResponse {}))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn check_hosts(
        &self,
        request: Request<pb::CheckHostsRequest>,
    ) -> Result<Response<pb::CheckHostsResponse>, Status> {
        let account = self.api.caller(&request).await?.account;
        let verified = self
            .service()
            .check_hosts(&account, &request.into_inner().hosts)
            .await?;
        Ok(Response::new(pb::CheckHostsResponse { verified }))
    }
}
