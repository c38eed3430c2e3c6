//! The `mcp_fetch_token` scenario's set-up. `/mcp` serves MCP's streamable HTTP statelessly
//! (services/mcp/src/http.rs: no legacy sessions, JSON answers): no `Mcp-Session-Id` is issued, and
//! a `tools/call` needs no handshake before it. The bench still starts as a client does, with an
//! `initialize` (and `notifications/initialized`), and then sends what such a client sends on every
//! call: `Accept: application/json, text/event-stream` (both, or 406), the negotiated
//! `MCP-Protocol-Version`, and a session id only if the server issued one.

use anyhow::{Context, bail};
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};

use crate::children;
use crate::latchkey::Latchkey;
use crate::scenario::Request;

/// Where the gateway serves MCP.
const MCP_PATH: &str = "/mcp";
/// What the client asks for in `initialize`: the newest revision that has the handshake.
const PROTOCOL_VERSION: &str = "2025-11-25";
/// The session header a stateful server would issue (and then expect on every request).
const SESSION_HEADER: &str = "mcp-session-id";
/// Both answers the streamable HTTP transport may give.
const ACCEPTED: &str = "application/json, text/event-stream";

impl Latchkey {
    /// Connects `oidc`, goes through MCP's handshake, and answers the `tools/call` of `fetch_token`
    /// for it, after checking once that it answers the connection's token (not a JSON-RPC or tool
    /// error).
    pub async fn mcp_fetch_token(&self) -> anyhow::Result<Request> {
        self.connect_oidc().await?;
        let fetched = self
            .post("/tokens/fetch", serde_json::json!({ "provider": "oidc" }))
            .await?;
        let token = fetched["data"]["accessToken"]
            .as_str()
            .context("/tokens/fetch answered no accessToken")?
            .to_owned();

        let initialize = serde_json::json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": { "name": "latchkey-http-load", "version": env!("CARGO_PKG_VERSION") },
            },
        });
        let mut headers = vec![(ACCEPT, HeaderValue::from_static(ACCEPTED))];
        let answer = self.mcp_post(&headers, &initialize).await?;
        let session = answer.headers().get(SESSION_HEADER).cloned();
        let initialized = json_rpc_answer(answer).await?;
        let version = initialized["result"]["protocolVersion"]
            .as_str()
            .with_context(|| format!("initialize answered no protocolVersion: {initialized}"))?;
        headers.push((
            HeaderName::from_static("mcp-protocol-version"),
            HeaderValue::try_from(version)?,
        ));
        if let Some(session) = session {
            headers.push((HeaderName::from_static(SESSION_HEADER), session));
        }
        let notified = serde_json::json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        self.mcp_post(&headers, &notified).await?;

        let call = serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": { "name": "fetch_token", "arguments": { "provider": "oidc" } },
        });
        let request = Request {
            headers,
            ..Request::post(MCP_PATH, &call)?
        };
        let called = json_rpc_answer(self.mcp_post(&request.headers, &call).await?).await?;
        let result = &called["result"];
        if result.is_null() || result["isError"] == true || !called.to_string().contains(&token) {
            bail!("the fetch_token call did not answer the connection's token: {called}");
        }
        Ok(request)
    }

    /// POSTs one JSON-RPC message to `/mcp` with the account's key and `headers`; fails unless 2xx.
    async fn mcp_post(
        &self,
        headers: &[(HeaderName, HeaderValue)],
        message: &serde_json::Value,
    ) -> anyhow::Result<reqwest::Response> {
        let mut request = children::setup_client()?
            .post(self.url(MCP_PATH))
            .bearer_auth(&self.api_key)
            .json(message);
        for (name, value) in headers {
            request = request.header(name.clone(), value.clone());
        }
        let response = request.send().await?;
        if !response.status().is_success() {
            let status = response.status();
            bail!("{MCP_PATH} answered {status} to {message}: {}", response.text().await?);
        }
        Ok(response)
    }
}

/// The JSON-RPC message of an answer: the body itself, or the last `data:` of an event stream;
/// an error if it is a JSON-RPC error.
async fn json_rpc_answer(response: reqwest::Response) -> anyhow::Result<serde_json::Value> {
    let event_stream = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"text/event-stream"));
    let text = response.text().await?;
    let json = if event_stream {
        text.lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .map(str::trim)
            .rfind(|data| !data.is_empty())
            .with_context(|| format!("the event stream carried no message: {text}"))?
    } else {
        &text
    };
    let message: serde_json::Value =
        serde_json::from_str(json).with_context(|| format!("the MCP answer is not JSON: {json}"))?;
    if !message["error"].is_null() {
        bail!("the MCP server answered a JSON-RPC error: {message}");
    }
    Ok(message)
}
