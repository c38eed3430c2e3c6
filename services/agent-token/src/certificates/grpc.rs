//! The gRPC face of certificates (`CertificateService`): unpack, find out who is calling (as
//! `AgentTokenService` does: a mesh caller, an API key or a certificate JWT), call the domain,
//! convert back.

use latchkey_ids::{CertificateId, CertificateKid};
use latchkey_proto::agent_token::v1::{self as pb, certificate_service_server::CertificateService};
use latchkey_server::Caller;
use tonic::{Request, Response, Status};
use tracing::instrument;

use super::{Certificate, CertificatePrincipal, CreatedCertificate, NewCertificate, not_found};
use crate::{AgentToken, grpc::GrpcApi};

pub(crate) struct CertificateApi {
    api: GrpcApi,
}

impl CertificateApi {
    pub(crate) fn new(service: AgentToken) -> Self {
        Self {
            api: GrpcApi::new(service),
        }
    }

    fn service(&self) -> &AgentToken {
        self.api.service()
    }
}

fn certificate_id(text: String) -> Result<CertificateId, Status> {
    CertificateId::try_from(text).map_err(|_| not_found().into())
}

fn certificate_to_pb(certificate: Certificate) -> pb::Certificate {
    pb::Certificate {
        id: certificate.id.into_string(),
        account_id: certificate.account_id.into_string(),
        kid: certificate.kid.into_string(),
        name: certificate.name,
        public_key: certificate.public_key_pem,
        algorithm: certificate.algorithm.as_str().to_owned(),
        status: certificate.status.as_str().to_owned(),
        expires_at_ms: certificate.expires_at_ms,
        metadata: certificate.metadata.into_iter().collect(),
        created_at_ms: certificate.created_at_ms,
        updated_at_ms: certificate.updated_at_ms,
    }
}

/// Moves the private key into the answer rather than copying it: no copy is left to wipe.
fn created_to_pb(mut created: CreatedCertificate) -> pb::CreatedCertificate {
    pb::CreatedCertificate {
        private_key: std::mem::take(&mut *created.private_key_pem),
        certificate: Some(certificate_to_pb(created.certificate)),
    }
}

#[tonic::async_trait]
impl CertificateService for CertificateApi {
    #[instrument(skip_all, err(level = "debug"))]
    async fn create_certificate(
        &self,
        request: Request<pb::CreateCertificateRequest>,
    ) -> Result<Response<pb::CreatedCertificate>, Status> {
        let Caller { account, actor } = self.api.caller(&request).await?;
        let m = request.into_inner();
        let new = NewCertificate {
            name: m.name,
            algorithm: m.algorithm,
            expires_at: m.expires_at,
            metadata: m.metadata.into_iter().collect(),
        };
        let created = self
            .service()
            .create_certificate(&account, actor.as_deref(), new)
            .await?;
        Ok(Response::new(created_to_pb(created)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn list_certificates(
        &self,
        request: Request<pb::ListCertificatesRequest>,
    ) -> Result<Response<pb::ListCertificatesResponse>, Status> {
        let account = self.api.caller(&request).await?.account;
        let certificates = self.service().list_certificates(&account).await?;
        Ok(Response::new(pb::ListCertificatesResponse {
            certificates: certificates.into_iter().map(certificate_to_pb).collect(),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn get_certificate(
        &self,
        request: Request<pb::GetCertificateRequest>,
    ) -> Result<Response<pb::Certificate>, Status> {
        let account = self.api.caller(&request).await?.account;
        let id = certificate_id(request.into_inner().id)?;
        let certificate = self.service().get_certificate(&account, &id).await?;
        Ok(Response::new(certificate_to_pb(certificate)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn get_active_certificate(
        &self,
        request: Request<pb::GetActiveCertificateRequest>,
    ) -> Result<Response<pb::Certificate>, Status> {
        let account = self.api.caller(&request).await?.account;
        let certificate = self.service().active_certificate(&account).await?;
        Ok(Response::new(certificate_to_pb(certificate)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn revoke_certificate(
        &self,
        request: Request<pb::RevokeCertificateRequest>,
    ) -> Result<Response<pb::Certificate>, Status> {
        let Caller { account, actor } = self.api.caller(&request).await?;
        let id = certificate_id(request.into_inner().id)?;
        let certificate = self
            .service()
            .revoke_certificate(&account, actor.as_deref(), &id)
            .await?;
        Ok(Response::new(certificate_to_pb(certificate)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn delete_certificate(
        &self,
        request: Request<pb::DeleteCertificateRequest>,
    ) -> Result<Response<pb::DeleteCertificateResponse>, Status> {
        let Caller { account, actor } = self.api.caller(&request).await?;
        let id = certificate_id(request.into_inner().id)?;
        self.service()
            .delete_certificate(&account, actor.as_deref(), &id)
            .await?;
        Ok(Response::new(pb::DeleteCertificateResponse {}))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn get_public_key(
        &self,
        request: Request<pb::GetPublicKeyRequest>,
    ) -> Result<Response<pb::CertificatePublicKey>, Status> {
        self.api.require_mesh(&request)?;
        let kid = CertificateKid::try_from(request.into_inner().kid).map_err(|_| Status::from(not_found()))?;
        let certificate = self.service().usable_certificate_by_kid(&kid).await?;
        Ok(Response::new(pb::CertificatePublicKey {
            kid: certificate.kid.into_string(),
            public_key: certificate.public_key_pem,
            algorithm: certificate.algorithm.as_str().to_owned(),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn get_certificate_jwks(
        &self,
        request: Request<pb::GetCertificateJwksRequest>,
    ) -> Result<Response<pb::GetCertificateJwksResponse>, Status> {
        // A mesh caller naming the account: the gateway, for `?account=` of a public route.
        self.api.require_mesh(&request)?;
        let account = self.api.caller(&request).await?.account;
        let jwks = self.service().certificate_jwks(&account).await?;
        Ok(Response::new(pb::GetCertificateJwksResponse {
            jwks_json: jwks.to_string(),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn authenticate_certificate_jwt(
        &self,
        request: Request<pb::AuthenticateCertificateJwtRequest>,
    ) -> Result<Response<pb::CertificatePrincipal>, Status> {
        self.api.require_mesh(&request)?;
        let CertificatePrincipal {
            account_id,
            certificate_id,
            plan,
        } = self
            .service()
            .authenticate_certificate_jwt(&request.into_inner().token)
            .await?;
        Ok(Response::new(pb::CertificatePrincipal {
            account_id: account_id.into_string(),
            certificate_id: certificate_id.into_string(),
            plan,
        }))
    }
}
