//! A gateway in front of the fake services over real gRPC on loopback, with an in-process event
//! bus on a fresh SQLite database; requests go through the router as `oneshot` calls.

use axum::{Router, body::Body};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use latchkey_events::EventBus;
use latchkey_gateway::{Gateway, GatewayConfig, GatewayDeps, ReadinessCheck};
use latchkey_proto::{
    agent_token::v1::{
        agent_token_service_client::AgentTokenServiceClient, agent_token_service_server::AgentTokenServiceServer,
    },
    audit::v1::{audit_service_client::AuditServiceClient, audit_service_server::AuditServiceServer},
    policy::v1::policy_service_client::PolicyServiceClient,
    vault::v1::{vault_service_client::VaultServiceClient, vault_service_server::VaultServiceServer},
};
use latchkey_server::{MeshAuth, MeshChannel};
use latchkey_storage::Db;
use latchkey_test_support::TestDatabase;
use serde_json::Value;
use tokio::{net::TcpListener, sync::oneshot};
use tonic::service::Routes;
use tower::ServiceExt;

use crate::fakes::{FakeAgentToken, FakeAudit, FakeVault, GrpcCalls, with_empty_policy_and_webhook};

pub const AGENT_TOKEN_SERVICE: &str = "latchkey.agent_token.v1.AgentTokenService";
pub const AUDIT_SERVICE: &str = "latchkey.audit.v1.AuditService";

pub struct TestGateway {
    pub gateway: Gateway,
    pub agent_token: FakeAgentToken,
    pub audit: FakeAudit,
    pub vault: FakeVault,
    /// Every call that reached the services behind the gateway.
    pub calls: GrpcCalls,
    pub bus: EventBus,
    _db: TestDatabase,
    stop_grpc: Option<oneshot::Sender<()>>,
}

impl TestGateway {
    pub async fn start() -> Self {
        Self::with_config(GatewayConfig::default()).await
    }

    pub async fn with_config(config: GatewayConfig) -> Self {
        Self::build(config, Vec::new(), None).await
    }

    /// With extra (service name, address) pairs for /readyz to check beside the fakes, and the
    /// given bus (default: the in-process bus on a fresh SQLite database).
    pub async fn build(config: GatewayConfig, extra_readiness: Vec<(String, String)>, bus: Option<EventBus>) -> Self {
        let mesh = MeshAuth::new("test-service-token");
        let agent_token = FakeAgentToken::new(mesh.clone());
        let audit = FakeAudit::new(mesh.clone());
        let vault = FakeVault::new(mesh.clone());

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind gRPC listener");
        let grpc_url = format!("http://{}", listener.local_addr().expect("gRPC address"));
        let calls = GrpcCalls::default();
        let routes = calls.record(with_empty_policy_and_webhook(
            Routes::new(AgentTokenServiceServer::new(agent_token.clone()))
                .add_service(AuditServiceServer::new(audit.clone()))
                .add_service(VaultServiceServer::new(vault.clone())),
        ));
        let (stop_grpc, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            latchkey_server::serve_grpc(listener, routes, &[AGENT_TOKEN_SERVICE, AUDIT_SERVICE], shutdown)
                .await
                .expect("serve gRPC");
        });

        let channel = channel_to(&grpc_url, &mesh);
        let check = |service: &str, channel: MeshChannel| ReadinessCheck {
            service: service.to_owned(),
            essential: service == AGENT_TOKEN_SERVICE,
            channel,
        };
        let mut readiness = vec![
            check(AGENT_TOKEN_SERVICE, channel.clone()),
            check(AUDIT_SERVICE, channel.clone()),
        ];
        readiness.extend(
            extra_readiness
                .iter()
                .map(|(name, url)| check(name, channel_to(url, &mesh))),
        );

        let db = TestDatabase::sqlite();
        let bus = match bus {
            Some(bus) => bus,
            None => EventBus::local(Db::connect(db.url()).await.expect("open bus database"))
                .await
                .expect("open the in-process bus"),
        };
        let deps = GatewayDeps {
            agent_token: AgentTokenServiceClient::new(channel.clone()),
            // No fake domain service: its routes are tested end to end (tests/it/domains.rs).
            domains: latchkey_proto::agent_token::v1::domain_service_client::DomainServiceClient::new(channel.clone()),
            // No fake certificate service: certificates are tested end to end (tests/it/certificates.rs).
            certificates: latchkey_proto::agent_token::v1::certificate_service_client::CertificateServiceClient::new(
                channel.clone(),
            ),
            audit: AuditServiceClient::new(channel.clone()),
            // Policy and webhook services that hold nothing (every id is unknown): their routes are
            // tested end to end (tests/it at the root); these tests cover the edge in front of them.
            webhook: latchkey_proto::webhook::v1::webhook_service_client::WebhookServiceClient::new(channel.clone()),
            // No fake oauth service: its routes are tested end to end against a real provider (tests/it/oauth).
            oauth: latchkey_proto::oauth::v1::oauth_service_client::OauthServiceClient::new(channel.clone()),
            vault: VaultServiceClient::new(channel.clone()),
            // No fake directory: its routes are tested end to end (tests/it/directory.rs).
            directory: latchkey_proto::directory::v1::directory_service_client::DirectoryServiceClient::new(
                channel.clone(),
            ),
            policy: PolicyServiceClient::new(channel),
            bus: bus.clone(),
            readiness,
            public_url: "https://latchkey.example".to_owned(),
            catalogue: std::sync::Arc::new(latchkey_oauth::Catalogue::builtin()),
        };
        let gateway = Gateway::build(config, deps).await.expect("build the gateway");
        Self {
            gateway,
            agent_token,
            audit,
            vault,
            calls,
            bus,
            _db: db,
            stop_grpc: Some(stop_grpc),
        }
    }

    /// Stops the fake services, as if agent-token and audit went down.
    pub fn stop_services(&mut self) {
        if let Some(stop) = self.stop_grpc.take() {
            let _ = stop.send(());
        }
    }

    pub fn router(&self) -> Router {
        self.gateway.router()
    }

    /// Sends a request; `headers` are (name, value) pairs.
    pub async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Body) -> TestResponse {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(body).expect("build request");
        let response = self.router().oneshot(request).await.expect("router is infallible");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("read response body").to_bytes();
        TestResponse {
            path: path.split('?').next().unwrap_or(path).to_owned(),
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// GET without a credential, as anyone may for public documents.
    pub async fn get_public(&self, path: &str) -> TestResponse {
        self.send(Method::GET, path, &[], Body::empty()).await
    }

    /// GET with `Authorization: Bearer <secret>`.
    pub async fn get(&self, path: &str, secret: &str) -> TestResponse {
        let bearer = format!("Bearer {secret}");
        self.send(Method::GET, path, &[("authorization", &bearer)], Body::empty())
            .await
    }

    /// POST a JSON body with `Authorization: Bearer <secret>`.
    pub async fn post_json(&self, path: &str, secret: &str, json: &str) -> TestResponse {
        let bearer = format!("Bearer {secret}");
        let headers = [("authorization", bearer.as_str()), ("content-type", "application/json")];
        self.send(Method::POST, path, &headers, Body::from(json.to_owned()))
            .await
    }

    pub async fn delete(&self, path: &str, secret: &str) -> TestResponse {
        let bearer = format!("Bearer {secret}");
        self.send(Method::DELETE, path, &[("authorization", &bearer)], Body::empty())
            .await
    }
}

pub fn channel_to(url: &str, mesh: &MeshAuth) -> MeshChannel {
    latchkey_server::connect(url, mesh).expect("valid gRPC address")
}

pub struct TestResponse {
    pub path: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem document with `status` and `code`, the request id and the path; returns it.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", String::from_utf8_lossy(&self.body));
        assert_eq!(self.header("content-type"), Some("application/problem+json"));
        let problem = self.json();
        assert_eq!(problem["code"], code, "{problem}");
        assert_eq!(problem["status"], status);
        assert_eq!(
            problem["type"],
            format!(
                "https://latchkey.dev/problems/{}",
                code.to_lowercase().replace('_', "-")
            )
        );
        assert!(problem["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()));
        assert_eq!(problem["instance"], self.path.as_str());
        let request_id = self.header("x-request-id").expect("x-request-id on every response");
        assert_eq!(problem["request_id"], request_id);
        problem
    }

    /// The `field` of the problem's first field error.
    pub fn first_error_field(&self) -> String {
        self.json()["errors"][0]["field"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}
