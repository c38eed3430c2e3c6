//! The policy service. Today it joins the mesh (health, reflection, `Describe`) so deployments and
//! probes see the whole shape; its domain arrives with issue 3 (policies, evaluation, throttles, approvals).

pub mod engine;

use latchkey_proto::policy::v1::{
    DescribeRequest, DescribeResponse,
    policy_service_server::{PolicyService, PolicyServiceServer},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

/// The fully qualified gRPC service name, as health reports it.
pub const GRPC_SERVICE: &str = "latchkey.policy.v1.PolicyService";

/// The policy service.
#[derive(Clone, Debug, Default)]
pub struct Policy;

#[tonic::async_trait]
impl PolicyService for Policy {
    async fn describe(&self, _request: Request<DescribeRequest>) -> Result<Response<DescribeResponse>, Status> {
        Ok(Response::new(DescribeResponse {
            service: "policy".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }))
    }
}

impl Policy {
    /// Serves gRPC on `listener` until `shutdown` is cancelled.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), latchkey_server::ServerError> {
        let routes = tonic::service::Routes::new(PolicyServiceServer::new(self));
        latchkey_server::serve_grpc(listener, routes, &[GRPC_SERVICE], shutdown.cancelled_owned()).await
    }
}
