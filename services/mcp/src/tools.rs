//! The tools: each one's name, description, input schema, and the REST call it makes.

use std::{borrow::Cow, collections::BTreeMap, sync::Arc};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use rmcp::{
    handler::server::common::schema_for_type,
    model::{JsonObject, Tool, ToolAnnotations},
    schemars::{self, JsonSchema},
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{McpCaller, door::RestCall};

/// Every tool the server has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToolName {
    ContextSummary,
    ProviderContext,
    ListConnections,
    CreateOauthSession,
    FetchToken,
    CallProvider,
    RequestAgentToken,
}

impl ToolName {
    pub const ALL: [Self; 7] = [
        Self::ContextSummary,
        Self::ProviderContext,
        Self::ListConnections,
        Self::CreateOauthSession,
        Self::FetchToken,
        Self::CallProvider,
        Self::RequestAgentToken,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::ContextSummary => "context_summary",
            Self::ProviderContext => "provider_context",
            Self::ListConnections => "list_connections",
            Self::CreateOauthSession => "create_oauth_session",
            Self::FetchToken => "fetch_token",
            Self::CallProvider => "call_provider",
            Self::RequestAgentToken => "request_agent_token",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|tool| tool.name() == name)
    }

    /// Whether an agent's use of the tool names the provider (`mcp.fetch_token:google`).
    pub fn per_provider(self) -> bool {
        matches!(
            self,
            Self::ProviderContext | Self::CreateOauthSession | Self::FetchToken | Self::CallProvider
        )
    }

    fn description(self) -> &'static str {
        match self {
            Self::ContextSummary => {
                "Which providers the account has connected, how each stands (ok, expired, action_required) \
                 and their services. Start here; it is a few hundred bytes."
            }
            Self::ProviderContext => {
                "One provider (or one of its services): scopes granted and available, API base URLs, and \
                 ready-to-run curl commands to get a token or connect."
            }
            Self::ListConnections => {
                "The account's OAuth connections: provider, end user, scopes, status and expiry. Never a token."
            }
            Self::CreateOauthSession => {
                "Starts connecting a provider. Returns the URL a person must open to authorize; an agent \
                 cannot authorize for them. Show them the URL, then check provider_context."
            }
            Self::FetchToken => {
                "A usable access token for a connected provider (refreshed first when close to expiry). \
                 Prefer call_provider, which never shows the token."
            }
            Self::CallProvider => {
                "Calls a provider's API through Latchkey's credential proxy: the account's credential is \
                 added on the way and never shown. Give the service, method and path below its base URL."
            }
            Self::RequestAgentToken => {
                "A short-lived signed agent token. With an account key: for any agent of the account. \
                 With an agent token: delegates a narrower token to a sub-agent (agent_id)."
            }
        }
    }

    fn input_schema(self) -> Arc<JsonObject> {
        match self {
            Self::ContextSummary => schema_for_type::<NoArgs>(),
            Self::ProviderContext => schema_for_type::<ProviderContextArgs>(),
            Self::ListConnections => schema_for_type::<ListConnectionsArgs>(),
            Self::CreateOauthSession => schema_for_type::<CreateOauthSessionArgs>(),
            Self::FetchToken => schema_for_type::<FetchTokenArgs>(),
            Self::CallProvider => schema_for_type::<CallProviderArgs>(),
            Self::RequestAgentToken => schema_for_type::<RequestAgentTokenArgs>(),
        }
    }

    /// The tool as `tools/list` shows it.
    pub fn definition(self) -> Tool {
        let mut tool = Tool::new(self.name(), self.description(), self.input_schema());
        let read_only = matches!(
            self,
            Self::ContextSummary | Self::ProviderContext | Self::ListConnections | Self::FetchToken
        );
        let mut annotations = ToolAnnotations::new();
        annotations.read_only_hint = Some(read_only);
        // A provider call reaches beyond Latchkey; nothing else does.
        annotations.open_world_hint = Some(self == Self::CallProvider);
        tool.annotations = Some(annotations);
        tool
    }
}

/// Why a tool call cannot be made: the arguments do not fit the schema.
#[derive(Debug)]
pub(crate) struct BadArguments(pub(crate) String);

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ProviderContextArgs {
    /// The provider code, as context_summary lists it (e.g. `google`).
    provider: String,
    /// One of the provider's services (e.g. `gmail`); none: the whole provider.
    service: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListConnectionsArgs {
    /// Only this provider's connections.
    provider: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateOauthSessionArgs {
    /// The provider code (e.g. `google`).
    provider: String,
    /// Scopes to ask for; the provider's defaults when left out.
    scopes: Option<Vec<String>>,
    /// Where the person is sent back after authorizing; Latchkey's own page when left out.
    redirect_uri: Option<String>,
    /// The end user the connection is for; none: the account.
    end_user_id: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct FetchTokenArgs {
    /// The provider code (e.g. `google`).
    provider: String,
    /// The end user whose connection to use; none: the account's own.
    end_user_id: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CallProviderArgs {
    /// The provider code (e.g. `github`).
    provider: String,
    /// The provider's service (e.g. `repos`); provider_context lists them with their base URLs.
    service: String,
    /// The HTTP method; GET when left out.
    method: Option<String>,
    /// The path below the service's base URL, e.g. `user/repos`.
    path: String,
    /// Query parameters.
    query: Option<BTreeMap<String, String>>,
    /// Request headers (never a credential: the proxy adds it).
    headers: Option<BTreeMap<String, String>>,
    /// A JSON body, sent as `application/json`.
    body: Option<Value>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RequestAgentTokenArgs {
    /// The agent the token is for (`agent_…`); with an agent token, the sub-agent to delegate to.
    agent_id: String,
    /// Scopes to grant, e.g. `["secrets.read"]`.
    scope: Vec<String>,
    /// Lifetime in seconds (default 300).
    ttl: Option<i64>,
    /// The service the token is for (its audience).
    target_service: Option<String>,
    /// What the token is for, in words (account callers only).
    intent: Option<String>,
}

fn parse<T: for<'de> Deserialize<'de>>(arguments: Option<JsonObject>) -> Result<T, BadArguments> {
    serde_json::from_value(Value::Object(arguments.unwrap_or_default()))
        .map_err(|error| BadArguments(error.to_string()))
}

/// A path segment from a caller's text, percent-encoded whole (`.` too), so no argument can
/// climb out of its segment into another route.
fn segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// A provider path, kept as segments: each segment encoded, `/` between them kept.
fn provider_path(path: &str) -> String {
    path.trim_start_matches('/')
        .split('/')
        .map(segment)
        .collect::<Vec<_>>()
        .join("/")
}

fn json_body(value: &Value) -> Bytes {
    Bytes::from(value.to_string())
}

fn get(path_and_query: String, use_scope: String) -> RestCall {
    RestCall {
        method: Method::GET,
        path_and_query,
        headers: HeaderMap::new(),
        body: Bytes::new(),
        use_scope,
    }
}

fn post_json(path: &str, body: &Value, use_scope: String) -> RestCall {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    RestCall {
        method: Method::POST,
        path_and_query: path.to_owned(),
        headers,
        body: json_body(body),
        use_scope,
    }
}

/// Drops `None` fields, so a route sees only what the caller gave.
fn compact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    }
}

/// The REST call a tool call makes.
pub(crate) fn rest_call(
    tool: ToolName,
    arguments: Option<JsonObject>,
    caller: &McpCaller,
) -> Result<RestCall, BadArguments> {
    let use_for = |provider: Option<&str>| match provider {
        Some(provider) => format!("mcp.{}:{provider}", tool.name()),
        None => format!("mcp.{}", tool.name()),
    };
    Ok(match tool {
        ToolName::ContextSummary => {
            parse::<NoArgs>(arguments)?;
            get("/ai/context/summary".to_owned(), use_for(None))
        }
        ToolName::ProviderContext => {
            let args: ProviderContextArgs = parse(arguments)?;
            let path = match &args.service {
                Some(service) => format!("/ai/context/{}/{}", segment(&args.provider), segment(service)),
                None => format!("/ai/context/{}", segment(&args.provider)),
            };
            get(path, use_for(Some(&args.provider)))
        }
        ToolName::ListConnections => {
            let args: ListConnectionsArgs = parse(arguments)?;
            let path = match &args.provider {
                Some(provider) => format!(
                    "/v1/connections?{}",
                    form_urlencoded::Serializer::new(String::new())
                        .append_pair("provider", provider)
                        .finish()
                ),
                None => "/v1/connections".to_owned(),
            };
            get(path, use_for(None))
        }
        ToolName::CreateOauthSession => {
            let args: CreateOauthSessionArgs = parse(arguments)?;
            let body = compact(json!({
                "provider": args.provider,
                "scopes": args.scopes,
                "redirect_uri": args.redirect_uri,
                "end_user_id": args.end_user_id,
            }));
            post_json("/oauth/sessions", &body, use_for(Some(&args.provider)))
        }
        ToolName::FetchToken => {
            let args: FetchTokenArgs = parse(arguments)?;
            let body = compact(json!({ "provider": args.provider, "end_user_id": args.end_user_id }));
            post_json("/tokens/fetch", &body, use_for(Some(&args.provider)))
        }
        ToolName::CallProvider => {
            let args: CallProviderArgs = parse(arguments)?;
            let method = Method::from_bytes(args.method.as_deref().unwrap_or("GET").to_ascii_uppercase().as_bytes())
                .map_err(|_| BadArguments("method: not an HTTP method".to_owned()))?;
            let mut path_and_query = format!(
                "/proxy/{}/{}/{}",
                segment(&args.provider),
                segment(&args.service),
                provider_path(&args.path)
            );
            if let Some(query) = args.query.as_ref().filter(|query| !query.is_empty()) {
                let mut serializer = form_urlencoded::Serializer::new(String::new());
                serializer.extend_pairs(query);
                path_and_query.push('?');
                path_and_query.push_str(&serializer.finish());
            }
            let mut headers = HeaderMap::new();
            for (name, value) in args.headers.iter().flatten() {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| BadArguments(format!("headers: {name:?} is not a header name")))?;
                let value = HeaderValue::from_str(value)
                    .map_err(|_| BadArguments(format!("headers: the value of {name} is not a header value")))?;
                headers.append(name, value);
            }
            let body = match &args.body {
                Some(body) => {
                    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    json_body(body)
                }
                None => Bytes::new(),
            };
            RestCall {
                method,
                path_and_query,
                headers,
                body,
                use_scope: use_for(Some(&args.provider)),
            }
        }
        ToolName::RequestAgentToken => {
            let args: RequestAgentTokenArgs = parse(arguments)?;
            match caller {
                McpCaller::Account => {
                    let body = compact(json!({
                        "agent_id": args.agent_id,
                        "scope": args.scope,
                        "ttl": args.ttl,
                        "target_service": args.target_service,
                        "intent": args.intent,
                    }));
                    post_json("/v1/tokens", &body, use_for(None))
                }
                // An agent never mints a token from nothing: it delegates a narrower one of its own.
                McpCaller::Agent(agent) => {
                    let body = compact(json!({
                        "token": agent.token(),
                        "sub_agent": args.agent_id,
                        "scope": args.scope,
                        "ttl": args.ttl,
                        "target_service": args.target_service,
                    }));
                    post_json("/v1/tokens/delegate", &body, use_for(None))
                }
            }
        }
    })
}

/// The tool list a caller sees.
pub(crate) fn offered(caller: &McpCaller) -> Vec<Tool> {
    ToolName::ALL
        .into_iter()
        .filter(|tool| match caller {
            McpCaller::Account => true,
            McpCaller::Agent(agent) => agent.may_use(*tool),
        })
        .map(ToolName::definition)
        .collect()
}

/// Names of every tool, for messages.
pub(crate) fn names() -> Cow<'static, str> {
    Cow::Owned(ToolName::ALL.map(ToolName::name).join(", "))
}

#[cfg(test)]
mod tests;
