use serde_json::json;

use super::*;
use crate::AgentCaller;

fn arguments(value: Value) -> Option<JsonObject> {
    match value {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

fn agent(scopes: &[&str]) -> McpCaller {
    McpCaller::Agent(AgentCaller::new(
        "agent_a".to_owned(),
        scopes.iter().map(|s| (*s).to_owned()).collect(),
        "t.o.k",
    ))
}

#[test]
fn an_argument_never_leaves_its_path_segment() {
    let call = rest_call(
        ToolName::ProviderContext,
        arguments(json!({"provider": "../../v1/api-keys", "service": "a/b?c#d"})),
        &McpCaller::Account,
    )
    .expect("valid arguments");
    assert_eq!(
        call.path_and_query,
        "/ai/context/%2E%2E%2F%2E%2E%2Fv1%2Fapi-keys/a%2Fb%3Fc%23d"
    );
    let call = rest_call(
        ToolName::CallProvider,
        arguments(json!({"provider": "github", "service": "api", "path": "/user/../repos", "query": {"q": "a&b"}})),
        &McpCaller::Account,
    )
    .expect("valid arguments");
    assert_eq!(call.path_and_query, "/proxy/github/api/user/%2E%2E/repos?q=a%26b");
    assert_eq!(call.use_scope, "mcp.call_provider:github");
}

#[test]
fn unknown_or_ill_typed_arguments_are_refused() {
    for (tool, args) in [
        (ToolName::ContextSummary, json!({"extra": 1})),
        (ToolName::FetchToken, json!({})),
        (ToolName::FetchToken, json!({"provider": 7})),
        (
            ToolName::CallProvider,
            json!({"provider": "a", "service": "b", "path": "c", "method": "GE T"}),
        ),
        (
            ToolName::CallProvider,
            json!({"provider": "a", "service": "b", "path": "c", "headers": {"x": "a\nb"}}),
        ),
    ] {
        assert!(
            rest_call(tool, arguments(args.clone()), &McpCaller::Account).is_err(),
            "{args}"
        );
    }
}

#[test]
fn an_agent_sees_the_tools_its_scopes_reach() {
    let names = |caller: &McpCaller| {
        offered(caller)
            .into_iter()
            .map(|tool| tool.name.into_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&McpCaller::Account).len(), ToolName::ALL.len());
    assert_eq!(names(&agent(&["mcp.*"])).len(), ToolName::ALL.len());
    assert_eq!(names(&agent(&["*"])).len(), ToolName::ALL.len());
    assert_eq!(
        names(&agent(&["mcp.fetch_token:google", "mcp.context_summary"])),
        ["context_summary", "fetch_token"]
    );
    assert!(names(&agent(&["secrets.read", "mcp", "mcp.fetch_token", "mcpx.*"])).is_empty());
}

#[test]
fn an_agent_asking_for_a_token_delegates_its_own() {
    let call = rest_call(
        ToolName::RequestAgentToken,
        arguments(json!({"agent_id": "agent_b", "scope": ["db.read"]})),
        &agent(&["mcp.request_agent_token", "db.*"]),
    )
    .expect("valid arguments");
    assert_eq!(call.path_and_query, "/v1/tokens/delegate");
    let body: Value = serde_json::from_slice(&call.body).expect("json");
    assert_eq!(
        body,
        json!({"token": "t.o.k", "sub_agent": "agent_b", "scope": ["db.read"]})
    );
    let call = rest_call(
        ToolName::RequestAgentToken,
        arguments(json!({"agent_id": "agent_b", "scope": ["db.read"]})),
        &McpCaller::Account,
    )
    .expect("valid arguments");
    assert_eq!(call.path_and_query, "/v1/tokens");
}

#[test]
fn the_agent_token_stays_out_of_debug_output() {
    let shown = format!("{:?}", agent(&["mcp.*"]));
    assert!(!shown.contains("t.o.k"), "{shown}");
}
