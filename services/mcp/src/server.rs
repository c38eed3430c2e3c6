//! The MCP server handler: lists and calls tools through the [`Door`], and serves the skill.

use std::sync::Arc;

use http::{Method, StatusCode, header};
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListResourcesResult, ListToolsResult,
        PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
        ResourceContents, ServerCapabilities, ServerConfig,
    },
    service::RequestContext,
};
use serde_json::{Value, json};

use crate::{
    McpCaller,
    door::{Door, PROXIED_HEADER, RestAnswer, RestCall},
    tools::{self, ToolName},
};

/// The skill (`GET /ai/skill`) as a resource.
pub const SKILL_URI: &str = "latchkey://skill";

/// The most of a provider's answer `call_provider` hands the model; the rest is cut, and said so.
const MAX_PROVIDER_BODY: usize = 256 * 1024;

const INSTRUCTIONS: &str = "Latchkey keeps the credentials; you get what they open. Start with \
    context_summary. Prefer call_provider over fetch_token: it uses the credential without showing it. \
    Connecting a provider needs a person: create_oauth_session returns the URL for them. Errors carry \
    Latchkey's REST error codes; the latchkey://skill resource explains them.";

/// The server, one per MCP request (the caller comes with each request).
pub struct LatchkeyMcp<D> {
    door: Arc<D>,
}

impl<D> Clone for LatchkeyMcp<D> {
    fn clone(&self) -> Self {
        Self {
            door: Arc::clone(&self.door),
        }
    }
}

impl<D: Door> LatchkeyMcp<D> {
    pub fn new(door: Arc<D>) -> Self {
        Self { door }
    }
}

/// The HTTP request the MCP message came in, as the edge left it.
fn edge(context: &RequestContext<RoleServer>) -> Result<(&http::Extensions, &McpCaller), ErrorData> {
    let parts = context.extensions.get::<http::request::Parts>();
    let caller = parts.and_then(|parts| parts.extensions.get::<McpCaller>());
    match (parts, caller) {
        (Some(parts), Some(caller)) => Ok((&parts.extensions, caller)),
        _ => Err(ErrorData::internal_error(
            "the request reached MCP without an authenticated caller",
            None,
        )),
    }
}

/// A Latchkey problem as a tool error: the route's own body (`code`, `message`, …).
fn problem_result(answer: &RestAnswer) -> CallToolResult {
    let problem = serde_json::from_slice::<Value>(&answer.body).unwrap_or_else(|_| {
        json!({
            "code": "INTERNAL_ERROR",
            "status": answer.status.as_u16(),
            "detail": String::from_utf8_lossy(&answer.body),
        })
    });
    CallToolResult::structured_error(problem)
}

/// A route's answer as the tool's result.
fn route_result(answer: &RestAnswer) -> CallToolResult {
    if !answer.status.is_success() {
        return problem_result(answer);
    }
    match serde_json::from_slice::<Value>(&answer.body) {
        Ok(value @ Value::Object(_)) => CallToolResult::structured(value),
        Ok(other) => CallToolResult::structured(json!({ "result": other })),
        Err(_) => CallToolResult::structured(json!({ "result": String::from_utf8_lossy(&answer.body) })),
    }
}

/// The provider's answer through the proxy: its status, type and body, whatever the status (the
/// model reads a 404 from the provider as the provider's word). Latchkey's own refusal (no proxy
/// marker) is a tool error.
fn provider_result(answer: &RestAnswer) -> CallToolResult {
    if !answer.headers.contains_key(PROXIED_HEADER) {
        return problem_result(answer);
    }
    let content_type = answer
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let truncated = answer.body.len() > MAX_PROVIDER_BODY;
    let shown = &answer.body[..answer.body.len().min(MAX_PROVIDER_BODY)];
    let body = match serde_json::from_slice::<Value>(shown) {
        Ok(json) if !truncated => json,
        _ => Value::String(String::from_utf8_lossy(shown).into_owned()),
    };
    CallToolResult::structured(json!({
        "status": answer.status.as_u16(),
        "content_type": content_type,
        "body": body,
        "truncated": truncated,
    }))
}

impl<D: Door> ServerHandler for LatchkeyMcp<D> {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_resources().build())
            .with_server_info(Implementation::new("latchkey", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let (_, caller) = edge(&context)?;
        Ok(ListToolsResult::with_all_items(tools::offered(caller)))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let (extensions, caller) = edge(&context)?;
        let Some(tool) = ToolName::parse(&request.name) else {
            let message = format!("unknown tool {:?}; the tools: {}", request.name, tools::names());
            return Err(ErrorData::invalid_params(message, None));
        };
        if let McpCaller::Agent(agent) = caller
            && !agent.may_use(tool)
        {
            // The same refusal the edge would give, without asking it: no scope reaches the tool.
            return Ok(CallToolResult::structured_error(json!({
                "code": "FORBIDDEN",
                "status": StatusCode::FORBIDDEN.as_u16(),
                "detail": format!("the agent token holds no scope for {} (mcp.{}…)", tool.name(), tool.name()),
            }))
            .into());
        }
        let call = match tools::rest_call(tool, request.arguments, caller) {
            Ok(call) => call,
            Err(bad) => {
                return Ok(CallToolResult::structured_error(json!({
                    "code": "VALIDATION_ERROR",
                    "status": StatusCode::BAD_REQUEST.as_u16(),
                    "detail": format!("{}: {}", tool.name(), bad.0),
                }))
                .into());
            }
        };
        let answer = self.door.call(extensions, call).await;
        let result = match tool {
            ToolName::CallProvider => provider_result(&answer),
            _ => route_result(&answer),
        };
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let skill = Resource::new(SKILL_URI, "skill")
            .with_title("How to use Latchkey")
            .with_description("This deployment's skill: base URL, key format, workflow, providers, error codes.")
            .with_mime_type("text/markdown");
        Ok(ListResourcesResult::with_all_items(vec![skill]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if request.uri != SKILL_URI {
            return Err(ErrorData::resource_not_found(
                format!("no resource {:?}; the one resource is {SKILL_URI}", request.uri),
                None,
            ));
        }
        let (extensions, _) = edge(&context)?;
        let call = RestCall {
            method: Method::GET,
            path_and_query: "/ai/skill".to_owned(),
            headers: http::HeaderMap::new(),
            body: bytes::Bytes::new(),
            use_scope: String::new(),
        };
        let answer = self.door.call(extensions, call).await;
        if !answer.status.is_success() {
            return Err(ErrorData::internal_error("the skill is unavailable", None));
        }
        let text = String::from_utf8_lossy(&answer.body).into_owned();
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(text, SKILL_URI).with_mime_type("text/markdown"),
        ])
        .into())
    }
}
