//! The webhook service. Today it joins the mesh (health, reflection, `Describe`) so deployments and
//! probes see the whole shape; its domain arrives with issue 5 (Standard Webhooks delivery).

use latchkey_proto::webhook::v1::{
    DescribeRequest, DescribeResponse,
    webhook_service_server::{WebhookService, WebhookServiceServer},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

/// The fully qualified gRPC service name, as health reports it.
pub const GRPC_SERVICE: &str = "latchkey.webhook.v1.WebhookService";

/// The webhook service.
#[derive(Clone, Debug, Default)]
pub struct Webhook;

#[tonic::async_trait]
impl WebhookService for Webhook {
    async fn describe(&self, _request: Request<DescribeRequest>) -> Result<Response<DescribeResponse>, Status> {
        Ok(Response::new(DescribeResponse {
            service: "webhook".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }))
    }
}

impl Webhook {
    /// Serves gRPC on `listener` until `shutdown` is cancelled.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), latchkey_server::ServerError> {
        let routes = tonic::service::Routes::new(WebhookServiceServer::new(self));
        latchkey_server::serve_grpc(listener, routes, &[GRPC_SERVICE], shutdown.cancelled_owned()).await
    }
}
