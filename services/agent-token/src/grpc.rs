//! The gRPC face of the service: unpack, find out who is calling, call the domain, convert back.
//! Callers are either mesh services (service token + the account they act for) or clients holding
//! an account API key (`authorization: Bearer lk_live_…`).

use latchkey_proto::agent_token::v1::{self as pb, agent_token_service_server::AgentTokenService};
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::{AgentToken, AgentTokenError, ApiKey, CreatedApiKey, Principal};

pub(crate) struct GrpcApi {
    service: AgentToken,
}

impl GrpcApi {
    pub(crate) fn new(service: AgentToken) -> Self {
        Self { service }
    }

    /// The account the call acts in, and who acts.
    async fn caller<T>(&self, request: &Request<T>) -> Result<(String, Option<String>), Status> {
        if self.service.mesh.is_mesh_call(request) {
            let account = self.service.mesh.mesh_account(request)?;
            return Ok((account, latchkey_server::actor_of(request)));
        }
        let secret = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(AgentTokenError::Unauthenticated)?;
        let principal = self.service.authenticate_api_key(secret.trim()).await?;
        Ok((principal.account_id, Some(principal.api_key_id)))
    }

    fn require_mesh<T>(&self, request: &Request<T>) -> Result<(), Status> {
        if self.service.mesh.is_mesh_call(request) {
            Ok(())
        } else {
            Err(AgentTokenError::Unauthenticated.into())
        }
    }
}

fn api_key_to_pb(key: ApiKey) -> pb::ApiKey {
    pb::ApiKey {
        id: key.id,
        name: key.name,
        prefix: key.prefix,
        last4: key.last4,
        created_at_ms: key.created_at_ms,
        last_used_at_ms: key.last_used_at_ms.unwrap_or_default(),
    }
}

fn created_to_pb(created: CreatedApiKey) -> pb::CreatedApiKey {
    pb::CreatedApiKey {
        key: Some(api_key_to_pb(created.key)),
        secret: created.secret,
    }
}

#[tonic::async_trait]
impl AgentTokenService for GrpcApi {
    #[instrument(skip_all, err)]
    async fn create_account(
        &self,
        request: Request<pb::CreateAccountRequest>,
    ) -> Result<Response<pb::CreateAccountResponse>, Status> {
        self.require_mesh(&request)?;
        let message = request.into_inner();
        let (account_id, created) = self.service.create_account(&message.name, &message.key_name).await?;
        Ok(Response::new(pb::CreateAccountResponse {
            account_id,
            api_key: Some(created_to_pb(created)),
        }))
    }

    #[instrument(skip_all, err)]
    async fn authenticate_api_key(
        &self,
        request: Request<pb::AuthenticateApiKeyRequest>,
    ) -> Result<Response<pb::Principal>, Status> {
        self.require_mesh(&request)?;
        let Principal { account_id, api_key_id } =
            self.service.authenticate_api_key(&request.into_inner().secret).await?;
        Ok(Response::new(pb::Principal { account_id, api_key_id }))
    }

    #[instrument(skip_all, err)]
    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        let (account, actor) = self.caller(&request).await?;
        let created = self
            .service
            .create_api_key(&account, actor.as_deref(), &request.into_inner().name)
            .await?;
        Ok(Response::new(pb::CreateApiKeyResponse {
            created: Some(created_to_pb(created)),
        }))
    }

    #[instrument(skip_all, err)]
    async fn list_api_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        let (account, _) = self.caller(&request).await?;
        let keys = self.service.list_api_keys(&account).await?;
        Ok(Response::new(pb::ListApiKeysResponse {
            keys: keys.into_iter().map(api_key_to_pb).collect(),
        }))
    }

    #[instrument(skip_all, err)]
    async fn delete_api_key(
        &self,
        request: Request<pb::DeleteApiKeyRequest>,
    ) -> Result<Response<pb::DeleteApiKeyResponse>, Status> {
        let (account, actor) = self.caller(&request).await?;
        self.service
            .delete_api_key(&account, actor.as_deref(), &request.into_inner().id)
            .await?;
        Ok(Response::new(pb::DeleteApiKeyResponse {}))
    }
}
