//! Latchkey's agent surface as an MCP server: the tools an agent needs (its context, connections,
//! provider tokens, proxied provider calls, agent tokens) and the skill as a resource.
//!
//! The server has no rules of its own. Every tool is one REST call of the gateway's, made through a
//! [`Door`] the edge provides (in-process, as the authenticated caller), so a tool answers exactly
//! what its route answers: the same checks, policies, audit entries and error codes (a refusal is a
//! tool error carrying the route's problem). With an agent token, the tools offered are those its
//! scopes reach (`mcp.<tool>`, or `mcp.<tool>:<provider>` for a provider's tools; `mcp.*` for all),
//! and the edge authorizes every call as a use of the token (docs/mcp.md).
//!
//! Two transports: streamable HTTP ([`http_service`], mounted by the gateway at `/mcp`), and stdio
//! ([`serve_stdio`], `latchkey mcp`), which bridges a desktop client to a running Latchkey's `/mcp`.

mod caller;
mod door;
mod http;
mod server;
mod stdio;
mod tools;

pub use caller::{AgentCaller, McpCaller};
pub use door::{Door, PROXIED_HEADER, RestAnswer, RestCall};
pub use http::{HttpSettings, http_service};
pub use server::{LatchkeyMcp, SKILL_URI};
pub use stdio::serve_stdio;
pub use tools::ToolName;
