//! Who calls the MCP server, as the edge authenticated them.

use std::sync::Arc;

use latchkey_tokens::scope;

use crate::tools::ToolName;

/// The caller of one MCP request. The edge puts it in the HTTP request's extensions before the MCP
/// service sees the request; a request without one is refused.
#[derive(Clone, Debug)]
pub enum McpCaller {
    /// An account credential (API key or certificate JWT): every tool, acting for the account.
    Account,
    /// An agent token: the tools its scopes reach, each call authorized as a use of the token.
    Agent(AgentCaller),
}

/// An agent, by the token it presented.
#[derive(Clone)]
pub struct AgentCaller {
    pub agent_id: String,
    /// Every scope the token holds.
    pub scopes: Vec<String>,
    token: Arc<str>,
}

impl AgentCaller {
    pub fn new(agent_id: String, scopes: Vec<String>, token: &str) -> Self {
        Self {
            agent_id,
            scopes,
            token: token.into(),
        }
    }

    /// The token itself: a delegation (`request_agent_token`) spends it as its credential.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Whether some use of `tool` is within the token's scopes: `mcp.<tool>` (or, for a provider's
    /// tool, `mcp.<tool>:<provider>` for some provider). Each call is still authorized for its
    /// exact use; this only keeps tools the agent can never call out of its list.
    pub fn may_use(&self, tool: ToolName) -> bool {
        let name = tool.name();
        if tool.per_provider() {
            let prefix = format!("mcp.{name}:");
            let any_provider = format!("mcp.{name}:any-provider");
            self.scopes
                .iter()
                .any(|granted| granted.starts_with(&prefix) || scope::contains(granted, &any_provider))
        } else {
            let used = format!("mcp.{name}");
            self.scopes.iter().any(|granted| scope::contains(granted, &used))
        }
    }
}

impl std::fmt::Debug for AgentCaller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentCaller")
            .field("agent_id", &self.agent_id)
            .field("scopes", &self.scopes)
            .field("token", &"<redacted>")
            .finish()
    }
}
