//! The gRPC face of the service: unpack, find out which account calls, call the domain, convert back.
//! Only mesh callers (the gateway, oauth, webhook; agent-token and audit for the system account's
//! keys) reach it; the account is always the caller's, from the mesh metadata, never a field of the
//! message. Secret ids are names (`credential/openai`), not ids: the domain checks them.
//! Spans skip every argument: messages carry plaintext.

use latchkey_proto::vault::v1::{self as pb, vault_service_server::VaultService};
use latchkey_server::Caller;
use tonic::{Request, Response, Status};
use tracing::instrument;
use zeroize::Zeroizing;

use crate::{NewSecret, SecretMetadata, Vault};

pub(crate) struct GrpcApi {
    service: Vault,
}

impl GrpcApi {
    pub(crate) fn new(service: Vault) -> Self {
        Self { service }
    }
}

fn metadata_to_pb(metadata: SecretMetadata) -> pb::SecretMetadata {
    pb::SecretMetadata {
        secret_id: metadata.secret_id,
        version: metadata.version,
        write_only: metadata.write_only,
        last4: metadata.last4,
        created_at_unix: metadata.created_at_ms / 1000,
        updated_at_unix: metadata.updated_at_ms / 1000,
    }
}

/// Takes the plaintext out of a message into a zeroizing buffer (the message's own buffer is left
/// empty, so nothing else holds the bytes).
fn new_secret(mut message: pb::PutSecretRequest) -> NewSecret {
    NewSecret {
        plaintext: Zeroizing::new(std::mem::take(&mut message.plaintext)),
        secret_id: message.secret_id,
        write_only: message.write_only,
        expected_version: message.expected_version,
    }
}

#[tonic::async_trait]
impl VaultService for GrpcApi {
    async fn describe(&self, _request: Request<pb::DescribeRequest>) -> Result<Response<pb::DescribeResponse>, Status> {
        Ok(Response::new(pb::DescribeResponse {
            service: "vault".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn put_secret(
        &self,
        request: Request<pb::PutSecretRequest>,
    ) -> Result<Response<pb::PutSecretResponse>, Status> {
        let Caller { account, actor } = self.service.mesh.caller(&request)?;
        let written = self
            .service
            .put_secrets(&account, actor.as_deref(), vec![new_secret(request.into_inner())])
            .await?;
        Ok(Response::new(pb::PutSecretResponse {
            secret: written.into_iter().next().map(metadata_to_pb),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn put_secrets(
        &self,
        request: Request<pb::PutSecretsRequest>,
    ) -> Result<Response<pb::PutSecretsResponse>, Status> {
        let Caller { account, actor } = self.service.mesh.caller(&request)?;
        let secrets = request.into_inner().secrets.into_iter().map(new_secret).collect();
        let written = self.service.put_secrets(&account, actor.as_deref(), secrets).await?;
        Ok(Response::new(pb::PutSecretsResponse {
            secrets: written.into_iter().map(metadata_to_pb).collect(),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn get_secret(
        &self,
        request: Request<pb::GetSecretRequest>,
    ) -> Result<Response<pb::GetSecretResponse>, Status> {
        let account = self.service.mesh.caller(&request)?.account;
        let message = request.get_ref();
        let mut opened = self
            .service
            .get_secret(&account, &message.secret_id, message.internal_use)
            .await?;
        // The response needs an owned buffer; the zeroizing one is left empty behind it. Once
        // encoded, tonic drops the message: the copy on the wire is the caller's to protect.
        Ok(Response::new(pb::GetSecretResponse {
            plaintext: std::mem::take(&mut *opened.plaintext),
            secret: Some(metadata_to_pb(opened.metadata)),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn delete_secret(
        &self,
        request: Request<pb::DeleteSecretRequest>,
    ) -> Result<Response<pb::DeleteSecretResponse>, Status> {
        let Caller { account, actor } = self.service.mesh.caller(&request)?;
        self.service
            .delete_secret(&account, actor.as_deref(), &request.get_ref().secret_id)
            .await?;
        Ok(Response::new(pb::DeleteSecretResponse {}))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn list_secrets(
        &self,
        request: Request<pb::ListSecretsRequest>,
    ) -> Result<Response<pb::ListSecretsResponse>, Status> {
        let account = self.service.mesh.caller(&request)?.account;
        let secrets = self.service.list_secrets(&account, &request.get_ref().prefix).await?;
        Ok(Response::new(pb::ListSecretsResponse {
            secrets: secrets.into_iter().map(metadata_to_pb).collect(),
        }))
    }
}
