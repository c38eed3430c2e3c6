//! `latchkey mcp`: MCP over stdio for desktop clients, bridged to a running Latchkey's `/mcp` with
//! the caller's key. The tools, their checks and their audit are the server's; the bridge forwards
//! each request as it is and each answer as it comes. Each side negotiates its own protocol
//! revision, so an answer is marked complete (`resultType`, which revisions before 2026-07-28 leave
//! out) before it goes to a client that may speak the newer one.

use rmcp::{
    ErrorData, RoleClient, RoleServer, ServerHandler, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResponse, Implementation, ListResourcesResult, ListToolsResult,
        PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ResultType, ServerCapabilities,
        ServerConfig,
    },
    service::{Peer, RequestContext, ServiceError},
    transport::{StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig},
};

/// Forwards what a desktop client asks to the remote server.
struct Bridge {
    remote: Peer<RoleClient>,
    info: ServerConfig,
}

/// A failure to reach the remote server, as the local client sees it.
fn unreachable(error: ServiceError) -> ErrorData {
    match error {
        ServiceError::McpError(error) => error,
        other => ErrorData::internal_error(format!("Latchkey did not answer: {other}"), None),
    }
}

impl ServerHandler for Bridge {
    fn get_info(&self) -> ServerConfig {
        self.info.clone()
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let mut listed = self.remote.list_tools(request).await.map_err(unreachable)?;
        listed.result_type = Some(ResultType::COMPLETE);
        Ok(listed)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let mut result = self.remote.call_tool(request).await.map_err(unreachable)?;
        result.result_type = Some(ResultType::COMPLETE);
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let mut listed = self.remote.list_resources(request).await.map_err(unreachable)?;
        listed.result_type = Some(ResultType::COMPLETE);
        Ok(listed)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let mut read = self.remote.read_resource(request).await.map_err(unreachable)?;
        read.result_type = Some(ResultType::COMPLETE);
        Ok(read.into())
    }
}

/// Serves MCP on stdin/stdout until the local client leaves, forwarding to `endpoint` (a running
/// Latchkey's `…/mcp`) authenticated with `bearer` (an account API key or an agent token).
pub async fn serve_stdio(endpoint: &str, bearer: &str) -> anyhow::Result<()> {
    let config = StreamableHttpClientTransportConfig::with_uri(endpoint).auth_header(bearer);
    let remote = ()
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .map_err(|error| anyhow::anyhow!("cannot reach {endpoint}: {error}"))?;
    // The remote's capabilities and instructions, under the bridge's own name.
    let mut info = ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_resources().build())
        .with_server_info(Implementation::new("latchkey", env!("CARGO_PKG_VERSION")));
    if let Some(remote_info) = remote.peer_info() {
        info.capabilities = remote_info.capabilities.clone();
        info.instructions = remote_info.instructions.clone();
    }
    let bridge = Bridge {
        remote: remote.peer().clone(),
        info,
    };
    let local = bridge.serve(rmcp::transport::stdio()).await?;
    local.waiting().await?;
    remote.cancel().await?;
    Ok(())
}
