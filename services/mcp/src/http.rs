//! MCP over streamable HTTP, for the gateway to mount at `/mcp`.

use std::sync::Arc;

use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use tokio_util::sync::CancellationToken;

use crate::{Door, LatchkeyMcp};

/// How the HTTP transport guards itself.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// `Host` values (with or without port) the server answers: anything else is refused (403),
    /// so a page on another site cannot reach a Latchkey on loopback by DNS rebinding.
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed to call (`https://console.example.com`); a request with any other
    /// `Origin` is refused (403). Clients that are not browsers send none.
    pub allowed_origins: Vec<String>,
    /// The largest JSON-RPC message accepted.
    pub max_body_bytes: usize,
    /// Ends every open stream when the server stops.
    pub shutdown: CancellationToken,
}

/// The MCP service: stateless (every request carries its caller; no session to share across
/// gateway replicas), answering JSON rather than an event stream when a reply is all there is.
pub fn http_service<D: Door>(
    door: Arc<D>,
    settings: HttpSettings,
) -> StreamableHttpService<LatchkeyMcp<D>, LocalSessionManager> {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_allowed_hosts(settings.allowed_hosts)
        .with_allowed_origins(settings.allowed_origins)
        .enforce_origin_validation()
        .with_max_request_body_bytes(settings.max_body_bytes)
        .with_cancellation_token(settings.shutdown);
    let server = LatchkeyMcp::new(door);
    StreamableHttpService::new(move || Ok(server.clone()), Arc::default(), config)
}
