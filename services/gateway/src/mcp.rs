//! `/mcp`: the MCP server (`latchkey-mcp`) on the gateway. This module is its edge: it
//! authenticates each MCP request (an account credential, or an agent token for Latchkey) before
//! the server sees it, and it is the server's [`Door`]: a tool call becomes one request to the
//! gateway's own REST router, in this process, as the authenticated caller, so a tool is exactly
//! its route (checks, policies, audit, errors). An agent's call is first authorized as a use of
//! its token (`mcp.<tool>[:<provider>]`, see `agent_use`).
//!
//! `/.well-known/oauth-protected-resource` (RFC 9728) says what `/mcp` accepts and where an agent
//! gets a token for it; a request without a usable credential gets 401 pointing there.

use std::sync::Arc;

use axum::{
    Json, Router,
    body::Body,
    extract::{FromRequestParts, Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use http::{HeaderValue, header};
use latchkey_errors::ErrorCode;
use latchkey_mcp::{AgentCaller, Door, HttpSettings, McpCaller, RestAnswer, RestCall, ToolName};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use utoipa::ToSchema;

use crate::{
    GatewayConfig, agent_use,
    auth::{latchkey_agent_token, presented_secret},
    principal::Principal,
    problem::{self, Problem},
    request_id::RequestId,
    state::AppState,
    token_verifier::LATCHKEY_AUDIENCE,
};

/// Where the MCP server is mounted.
pub(crate) const MCP_PATH: &str = "/mcp";
/// RFC 9728's metadata of the resource at [`MCP_PATH`] (and at the bare well-known path).
pub(crate) const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The most of a route's answer a tool call reads (a proxied answer has its own, lower cap in
/// the MCP server).
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// The MCP server's way into the gateway.
pub(crate) struct GatewayDoor {
    /// The REST routes behind the edge middleware, without `/mcp` (a tool cannot call MCP).
    rest: Router,
    state: AppState,
}

async fn answer_of(response: Response) -> RestAnswer {
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, MAX_ANSWER_BYTES).await.unwrap_or_else(|_| {
        bytes::Bytes::from_static(
            br#"{"code":"UPSTREAM_ERROR","status":502,"detail":"the answer was too large to read"}"#,
        )
    });
    RestAnswer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

impl GatewayDoor {
    async fn request(&self, edge: &http::Extensions, call: RestCall) -> Result<RestAnswer, Problem> {
        let mut request = http::Request::builder()
            .method(call.method)
            .uri(&call.path_and_query)
            .body(Body::from(call.body))
            .map_err(|error| Problem::internal(&error))?;
        *request.headers_mut() = call.headers;
        match edge.get::<McpCaller>() {
            Some(McpCaller::Account) => {
                let principal = edge
                    .get::<Principal>()
                    .ok_or_else(|| Problem::internal(&"an account caller without its principal"))?;
                request.extensions_mut().insert(principal.clone());
            }
            Some(McpCaller::Agent(agent)) if !call.use_scope.is_empty() => {
                let (principal, used) = agent_use::authorize(&self.state, agent.token(), &call.use_scope).await?;
                request.extensions_mut().insert(principal);
                request.extensions_mut().insert(used);
            }
            // A public read (the skill): no one to act as.
            Some(McpCaller::Agent(_)) | None => {}
        }
        let response = self
            .rest
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|never| match never {});
        Ok(answer_of(response).await)
    }
}

impl Door for GatewayDoor {
    async fn call(&self, edge: &http::Extensions, call: RestCall) -> RestAnswer {
        let path = call.path_and_query.split('?').next().unwrap_or_default().to_owned();
        match self.request(edge, call).await {
            Ok(answer) => answer,
            // Refused before the route (the use was not authorized): rendered as the edge renders
            // a route's refusal, under the MCP request's id.
            Err(problem) => {
                let request_id = edge
                    .get::<RequestId>()
                    .cloned()
                    .unwrap_or_else(|| RequestId::from_header(None));
                answer_of(problem::render(problem.into_response(), &path, &request_id)).await
            }
        }
    }
}

/// 401 for `/mcp`, with the challenge RFC 9728 describes.
fn challenge(state: &AppState, problem: Problem) -> Response {
    let mut response = problem.into_response();
    let value = format!(
        r#"Bearer resource_metadata="{}{METADATA_PATH}{MCP_PATH}""#,
        state.public_url
    );
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// Who calls `/mcp`: an agent token for Latchkey (verified here, as `POST /v1/tokens/verify`
/// would), or an account credential as every route takes it.
async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let secret = match presented_secret(&parts.headers) {
        Ok(secret) => secret.to_owned(),
        Err(problem) => return challenge(&state, problem),
    };
    match latchkey_agent_token(&state, &secret).await {
        Ok(Some(claims)) => {
            let agent_id: Arc<str> = claims.sub.clone().into();
            if let Err(problem) = state.rate_limiter.check(&agent_id) {
                return problem.into_response();
            }
            let agent = AgentCaller::new(claims.sub, claims.scope, &secret);
            parts.extensions.insert(McpCaller::Agent(agent));
            return next.run(Request::from_parts(parts, body)).await;
        }
        Ok(None) => {}
        Err(problem) => return problem.into_response(),
    }
    match Principal::from_request_parts(&mut parts, &state).await {
        Ok(principal) => {
            parts.extensions.insert(principal);
            parts.extensions.insert(McpCaller::Account);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(problem) if problem.0.code == ErrorCode::Unauthorized => challenge(&state, problem),
        Err(problem) => problem.into_response(),
    }
}

/// The host (and host:port) of a URL, for the allowed `Host` values.
fn authority_of(url: &str) -> Option<(String, String)> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let host = parsed.host_str()?.to_owned();
    let origin = parsed.origin().ascii_serialization();
    Some((host, origin))
}

/// Mounts `/mcp` beside `rest`; the tools call `tools_reach` (the same routes behind the edge).
pub(crate) fn mount(
    rest: Router,
    tools_reach: Router,
    state: &AppState,
    config: &GatewayConfig,
    shutdown: CancellationToken,
) -> Router {
    let mut allowed_hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    let mut allowed_origins = Vec::new();
    if let Some((host, origin)) = authority_of(&state.public_url) {
        allowed_hosts.push(host);
        allowed_origins.push(origin);
    }
    allowed_hosts.extend(config.mcp_allowed_hosts.iter().cloned());
    allowed_origins.extend(config.mcp_allowed_origins.iter().cloned());
    let door = Arc::new(GatewayDoor {
        rest: tools_reach,
        state: state.clone(),
    });
    let settings = HttpSettings {
        allowed_hosts,
        allowed_origins,
        max_body_bytes: config.body_limit_bytes,
        shutdown,
    };
    let mcp = Router::new()
        .nest_service(MCP_PATH, latchkey_mcp::http_service(door, settings))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate));
    rest.merge(mcp)
}

/// What `/mcp` accepts and where to get it (RFC 9728), with Latchkey's own additions.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProtectedResourceBody {
    /// `{public_url}/mcp`.
    pub resource: String,
    /// Always `["header"]`: `Authorization: Bearer …`.
    pub bearer_methods_supported: Vec<&'static str>,
    /// The scopes an agent token may hold for the MCP tools: `mcp.*`, `mcp.<tool>`, or
    /// `mcp.<tool>:<provider>` for a provider's tools (`fetch_token`, `call_provider`, …).
    pub scopes_supported: Vec<String>,
    pub resource_name: &'static str,
    /// The skill: how to use this deployment.
    pub resource_documentation: String,
    /// Latchkey's own: where an agent token is issued (`POST`, authenticated by the account's API
    /// key or the agent's own secret key), with `target_service` `latchkey`.
    pub agent_token_endpoint: String,
    /// Latchkey's own: the audience the token must have (or none).
    pub agent_token_audience: &'static str,
}

/// MCP protected-resource metadata
///
/// RFC 9728 metadata of the MCP server at `/mcp`: it takes an account API key or an agent token
/// as a bearer token. An agent gets its token from `POST /v1/tokens` with `target_service`
/// `latchkey` and scopes `mcp.<tool>` or `mcp.<tool>:<provider>`. Served at
/// `/.well-known/oauth-protected-resource` and `/.well-known/oauth-protected-resource/mcp`.
#[utoipa::path(
    get,
    path = "/.well-known/oauth-protected-resource",
    tag = "agents-context",
    responses((status = 200, description = "The metadata", body = ProtectedResourceBody))
)]
pub(crate) async fn protected_resource(State(state): State<AppState>) -> Json<ProtectedResourceBody> {
    let mut scopes_supported = vec!["mcp.*".to_owned()];
    for tool in ToolName::ALL {
        scopes_supported.push(if tool.per_provider() {
            format!("mcp.{}:{{provider}}", tool.name())
        } else {
            format!("mcp.{}", tool.name())
        });
    }
    Json(ProtectedResourceBody {
        resource: format!("{}{MCP_PATH}", state.public_url),
        bearer_methods_supported: vec!["header"],
        scopes_supported,
        resource_name: "Latchkey MCP server",
        resource_documentation: format!("{}/ai/skill", state.public_url),
        agent_token_endpoint: format!("{}/v1/tokens", state.public_url),
        agent_token_audience: LATCHKEY_AUDIENCE,
    })
}
