//! The MCP server, as an agent's MCP client uses it: the official MCP Python SDK (PyPI `mcp`,
//! tests/mcp_peer) over streamable HTTP at `/mcp` and over stdio through `latchkey mcp`. It
//! initializes, lists the tools and calls each; an agent token sees and does only what its scopes
//! reach, each call judged by the policies and audited with the agent and the decision; another
//! account's data never shows; the transport refuses foreign hosts and origins (DNS rebinding) and
//! points a caller without a credential at the protected-resource metadata (RFC 9728).

use std::{path::PathBuf, process::Command};

use latchkey_storage::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    proxy::{ACME_SECRET, agent_token, with_provider},
    support::{Bus, TestMesh},
};

/// Runs `plan` with the Python SDK and returns its report.
pub(crate) async fn python_client(plan: Value) -> Value {
    let install = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_peer/install.sh");
    let installed = Command::new("bash")
        .arg(install)
        .output()
        .expect("run tests/mcp_peer/install.sh");
    assert!(
        installed.status.success(),
        "{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let dir = PathBuf::from(String::from_utf8(installed.stdout).unwrap().trim());
    let output = tokio::process::Command::new(dir.join("venv/bin/python"))
        .arg(dir.join("client.py"))
        .arg(plan.to_string())
        .output()
        .await
        .expect("run the MCP client");
    assert!(
        output.status.success(),
        "the MCP client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&output.stdout)))
}

fn over_http(t: &TestMesh, bearer: &str, steps: Value) -> Value {
    json!({ "transport": "http", "url": t.url("/mcp"), "bearer": bearer, "steps": steps })
}

fn call(name: &str, arguments: Value) -> Value {
    json!({ "call": { "name": name, "arguments": arguments } })
}

fn tool_names(result: &Value) -> Vec<&str> {
    result["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{result}"))
        .iter()
        .map(|tool| tool["name"].as_str().unwrap())
        .collect()
}

/// A tool's structured result, asserting it is not a tool error.
fn ok(result: &Value) -> &Value {
    assert_eq!(result["isError"], false, "{result}");
    &result["structured"]
}

/// A tool error's code, asserting it is one.
fn error_code(result: &Value) -> &str {
    assert_eq!(result["isError"], true, "{result}");
    result["structured"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{result}"))
}

async fn an_account_uses_every_tool(backend: Backend, bus: Bus) {
    let (upstream, _catalogue, t) = with_provider(backend, bus).await;
    let agent = t
        .created(&t.key, "/v1/agents", json!({ "name": "mcp-minted", "owner": "eng" }))
        .await;

    let report = python_client(over_http(
        &t,
        &t.key,
        json!([
            { "list_tools": {} },
            call("context_summary", json!({})),
            call("provider_context", json!({ "provider": "acme", "service": "api" })),
            call("list_connections", json!({})),
            call("create_oauth_session", json!({ "provider": "github" })),
            call("fetch_token", json!({ "provider": "basicco" })),
            call("call_provider", json!({ "provider": "acme", "service": "api", "path": "items/5", "query": { "q": "x" } })),
            call("request_agent_token", json!({ "agent_id": agent["id"], "scope": ["db.read"] })),
            { "list_resources": {} },
            { "read": { "uri": "latchkey://skill" } },
            call("fetch_token", json!({ "provider": "acme" })),
            call("provider_context", json!({ "provider": "../v1/api-keys" })),
            call("no_such_tool", json!({})),
            call("fetch_token", json!({ "provider": 5 })),
        ]),
    ))
    .await;
    assert_eq!(report["server"], "latchkey", "{report}");
    assert_eq!(report["protocol_version"], "2026-07-28", "the current revision");
    let results = report["results"].as_array().unwrap();
    let tools = tool_names(&results[0]);
    assert_eq!(
        tools,
        [
            "context_summary",
            "provider_context",
            "list_connections",
            "create_oauth_session",
            "fetch_token",
            "call_provider",
            "request_agent_token"
        ]
    );
    for tool in results[0]["tools"].as_array().unwrap() {
        assert_eq!(tool["inputSchema"]["type"], "object", "{tool}");
        assert!(tool["description"].as_str().is_some_and(|d| d.len() > 20), "{tool}");
    }
    let summary = ok(&results[1]);
    let connected: Vec<&str> = summary["connected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["provider"].as_str().unwrap())
        .collect();
    assert!(
        connected.contains(&"acme") && connected.contains(&"basicco"),
        "{summary}"
    );
    assert_eq!(ok(&results[2])["status"], "ok");
    assert!(ok(&results[3])["data"].is_array(), "{}", results[3]);
    let session = ok(&results[4]);
    assert!(
        session["url"]
            .as_str()
            .unwrap()
            .starts_with("https://github.com/login/oauth/authorize?"),
        "{session}"
    );
    assert_eq!(ok(&results[5])["data"]["accessToken"], "basic-user:basic-password-6e1d");
    let proxied = ok(&results[6]);
    assert_eq!(proxied["status"], 200, "{proxied}");
    assert_eq!(proxied["body"]["path"], "/v1/items/5");
    assert_eq!(upstream.last().query.as_deref(), Some("q=x"));
    assert!(
        ok(&results[7])["token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3)
    );
    assert_eq!(results[8]["resources"][0]["uri"], "latchkey://skill");
    let skill = results[9]["contents"][0].as_str().unwrap();
    assert!(
        skill.contains(&t.base) && skill.contains("/ai/context/summary"),
        "{skill}"
    );
    // Errors are tool errors with the REST codes.
    assert_eq!(
        error_code(&results[10]),
        "FORBIDDEN",
        "a write-only key is never fetched: {}",
        results[10]
    );
    assert_eq!(
        error_code(&results[11]),
        "NOT_FOUND",
        "an argument stays in its path segment"
    );
    assert!(
        results[12]["error"]
            .as_str()
            .is_some_and(|e| e.contains("unknown tool")),
        "{}",
        results[12]
    );
    assert_eq!(error_code(&results[13]), "VALIDATION_ERROR");
    let everything = report.to_string();
    assert!(!everything.contains(ACME_SECRET) && !everything.contains(&t.key));

    // Another account sees none of it through the same tools.
    let (_, other_key) = t.mesh.create_account("Other account").await.unwrap();
    let theirs = python_client(over_http(
        &t,
        &other_key,
        json!([
            call("context_summary", json!({})),
            call("list_connections", json!({})),
            call("fetch_token", json!({ "provider": "basicco" })),
            call(
                "call_provider",
                json!({ "provider": "acme", "service": "api", "path": "items/5" })
            ),
        ]),
    ))
    .await;
    let results = theirs["results"].as_array().unwrap();
    assert_eq!(ok(&results[0])["connected"], json!([]));
    assert_eq!(ok(&results[1])["data"], json!([]));
    assert_eq!(error_code(&results[2]), "INTEGRATION_NOT_FOUND");
    assert_eq!(error_code(&results[3]), "INTEGRATION_NOT_FOUND");
    t.stop().await;
}

#[tokio::test]
async fn an_account_uses_every_tool_sqlite() {
    an_account_uses_every_tool(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn an_account_uses_every_tool_postgres_nats() {
    an_account_uses_every_tool(Backend::Postgres, Bus::Nats).await;
}

/// An agent token offers only the tools its scopes reach, and each call it makes is a use of the
/// token: judged by the policies, audited with the agent and the decision.
async fn an_agent_token_bounds_the_tools(backend: Backend, bus: Bus) {
    let (upstream, _catalogue, t) = with_provider(backend, bus).await;
    let (agent_id, token) = agent_token(
        &t,
        &[
            "mcp.context_summary",
            "mcp.fetch_token:basicco",
            "mcp.call_provider:acme",
        ],
    )
    .await;
    let (sub_agent, _) = agent_token(&t, &["db.read"]).await;

    let report = python_client(over_http(
        &t,
        &token,
        json!([
            { "list_tools": {} },
            call("context_summary", json!({})),
            call("fetch_token", json!({ "provider": "basicco" })),
            call("fetch_token", json!({ "provider": "acme" })),
            call("call_provider", json!({ "provider": "acme", "service": "api", "path": "items/8" })),
            call("request_agent_token", json!({ "agent_id": sub_agent, "scope": ["db.read"] })),
            { "read": { "uri": "latchkey://skill" } },
        ]),
    ))
    .await;
    let results = report["results"].as_array().unwrap();
    assert_eq!(
        tool_names(&results[0]),
        ["context_summary", "fetch_token", "call_provider"]
    );
    assert!(ok(&results[1])["connected"].is_array());
    assert_eq!(ok(&results[2])["data"]["accessToken"], "basic-user:basic-password-6e1d");
    assert_eq!(error_code(&results[3]), "FORBIDDEN", "fetch_token:acme is not held");
    assert_eq!(ok(&results[4])["status"], 200);
    assert_eq!(upstream.last().header("x-acme-key").as_deref(), Some(ACME_SECRET));
    assert_eq!(error_code(&results[5]), "FORBIDDEN", "not offered, not allowed");
    assert!(
        results[6]["contents"][0]
            .as_str()
            .is_some_and(|s| s.contains("Latchkey"))
    );

    // Every allowed use is in the audit log with the agent and its decision.
    let entries = t.audit_entries_at_least(&t.key, 1).await;
    let used = t.audit_entries_of(&t.key, "token.used", 3).await;
    let scopes: Vec<&str> = used.iter().map(|e| e["data"]["scope"].as_str().unwrap()).collect();
    assert!(
        scopes.contains(&"mcp.context_summary")
            && scopes.contains(&"mcp.fetch_token:basicco")
            && scopes.contains(&"mcp.call_provider:acme"),
        "{scopes:?}"
    );
    for entry in &used {
        assert_eq!(entry["data"]["agent_id"], agent_id.as_str());
        assert!(
            entry["decision_id"].as_str().is_some_and(|d| d.starts_with("dec_")),
            "{entry}"
        );
    }
    assert!(!serde_json::to_string(&entries).unwrap().contains(&token));

    // A policy that denies a tool refuses its call, naming the policy, and records the denial.
    let policy = t
        .as_key(Method::POST, "/v1/policies", &t.key)
        .json(&json!({"name": "no tokens by MCP", "rules": [{"match": {"scopes": ["mcp.fetch_token:basicco"]}, "effect": "deny"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(policy.status(), StatusCode::CREATED, "{}", policy.text().await.unwrap());
    let denied = python_client(over_http(
        &t,
        &token,
        json!([call("fetch_token", json!({ "provider": "basicco" }))]),
    ))
    .await;
    let result = &denied["results"][0];
    assert_eq!(error_code(result), "FORBIDDEN");
    assert!(
        result["structured"]["detail"]
            .as_str()
            .unwrap()
            .contains("denied by policy"),
        "{result}"
    );
    t.stop().await;
}

#[tokio::test]
async fn an_agent_token_bounds_the_tools_sqlite() {
    an_agent_token_bounds_the_tools(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn an_agent_token_bounds_the_tools_postgres_nats() {
    an_agent_token_bounds_the_tools(Backend::Postgres, Bus::Nats).await;
}

/// `latchkey mcp` for a desktop client: stdio in, the running Latchkey's `/mcp` out, the key from
/// the environment.
#[tokio::test]
async fn a_desktop_client_speaks_stdio_through_latchkey_mcp() {
    let (_upstream, _catalogue, t) = with_provider(Backend::Sqlite, Bus::Local).await;
    let plan = json!({
        "transport": "stdio",
        "command": crate::binary::BINARY,
        "args": ["mcp"],
        "env": { "LATCHKEY_URL": t.base, "LATCHKEY_API_KEY": t.key, "LATCHKEY__TELEMETRY__LOG_FILTER": "warn" },
        "steps": [
            { "list_tools": {} },
            call("context_summary", json!({})),
            call("call_provider", json!({ "provider": "acme", "service": "api", "path": "items/6" })),
            call("fetch_token", json!({ "provider": "acme" })),
            { "read": { "uri": "latchkey://skill" } },
        ],
    });
    let report = python_client(plan).await;
    let results = report["results"].as_array().unwrap();
    assert_eq!(tool_names(&results[0]).len(), 7, "{report}");
    assert!(ok(&results[1])["connected"].as_array().is_some_and(|c| c.len() == 3));
    assert_eq!(ok(&results[2])["body"]["path"], "/v1/items/6");
    assert_eq!(error_code(&results[3]), "FORBIDDEN");
    assert!(results[4]["contents"][0].as_str().is_some_and(|s| s.contains(&t.base)));
    t.stop().await;
}

/// The transport's own guards, seen with a plain HTTP client.
#[tokio::test]
async fn the_transport_refuses_strangers_and_points_to_its_metadata() {
    let t = TestMesh::start(Backend::Sqlite, Bus::Local).await;
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "probe", "version": "1" } }
    });
    let post = |key: Option<&str>| {
        let request = t
            .http
            .post(t.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .json(&initialize);
        match key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    };
    let anonymous = post(None).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let challenge = anonymous.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert_eq!(
        challenge,
        format!(
            r#"Bearer resource_metadata="{}/.well-known/oauth-protected-resource/mcp""#,
            t.base
        )
    );
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let metadata: Value = t.http.get(t.url(path)).send().await.unwrap().json().await.unwrap();
        assert_eq!(metadata["resource"], t.url("/mcp"));
        assert_eq!(metadata["bearer_methods_supported"], json!(["header"]));
        assert_eq!(metadata["agent_token_endpoint"], t.url("/v1/tokens"));
        assert!(
            metadata["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("mcp.fetch_token:{provider}"))
        );
    }
    let wrong_key = post(Some("lk_live_not_a_key_at_all_000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_key.status(), StatusCode::UNAUTHORIZED);

    let answered = post(Some(&t.key)).send().await.unwrap();
    assert_eq!(answered.status(), StatusCode::OK, "{}", answered.text().await.unwrap());
    // DNS rebinding: a page on another name that resolves to this server is refused.
    let rebound = post(Some(&t.key))
        .header("host", "attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), StatusCode::FORBIDDEN);
    let foreign = post(Some(&t.key))
        .header("origin", "https://attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    let own = post(Some(&t.key)).header("origin", &t.base).send().await.unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    t.stop().await;
}
