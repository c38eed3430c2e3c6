//! The vault service. Today it joins the mesh (health, reflection, `Describe`) so deployments and
//! probes see the whole shape; its domain arrives with issue 4 (envelope-encrypted credentials).

use latchkey_proto::vault::v1::{
    DescribeRequest, DescribeResponse,
    vault_service_server::{VaultService, VaultServiceServer},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

/// The fully qualified gRPC service name, as health reports it.
pub const GRPC_SERVICE: &str = "latchkey.vault.v1.VaultService";

/// The vault service.
#[derive(Clone, Debug, Default)]
pub struct Vault;

#[tonic::async_trait]
impl VaultService for Vault {
    async fn describe(&self, _request: Request<DescribeRequest>) -> Result<Response<DescribeResponse>, Status> {
        Ok(Response::new(DescribeResponse {
            service: "vault".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }))
    }
}

impl Vault {
    /// Serves gRPC on `listener` until `shutdown` is cancelled.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), latchkey_server::ServerError> {
        let routes = tonic::service::Routes::new(VaultServiceServer::new(self));
        latchkey_server::serve_grpc(listener, routes, &[GRPC_SERVICE], shutdown.cancelled_owned()).await
    }
}
