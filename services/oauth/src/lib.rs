//! The oauth service. Today it joins the mesh (health, reflection, `Describe`) so deployments and
//! probes see the whole shape; its domain arrives with issue 4 (providers, sessions, refresh).

use latchkey_proto::oauth::v1::{
    DescribeRequest, DescribeResponse,
    oauth_service_server::{OauthService, OauthServiceServer},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

/// The fully qualified gRPC service name, as health reports it.
pub const GRPC_SERVICE: &str = "latchkey.oauth.v1.OauthService";

/// The oauth service.
#[derive(Clone, Debug, Default)]
pub struct Oauth;

#[tonic::async_trait]
impl OauthService for Oauth {
    async fn describe(&self, _request: Request<DescribeRequest>) -> Result<Response<DescribeResponse>, Status> {
        Ok(Response::new(DescribeResponse {
            service: "oauth".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }))
    }
}

impl Oauth {
    /// Serves gRPC on `listener` until `shutdown` is cancelled.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), latchkey_server::ServerError> {
        let routes = tonic::service::Routes::new(OauthServiceServer::new(self));
        latchkey_server::serve_grpc(listener, routes, &[GRPC_SERVICE], shutdown.cancelled_owned()).await
    }
}
