//! The way into Latchkey a tool call takes: one REST call of the gateway's, made by the edge as the
//! authenticated caller.

use std::future::Future;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};

/// Set by the credential proxy on a response that came from the provider (absent on Latchkey's own
/// refusals), so `call_provider` tells the provider's answer from the proxy's.
pub const PROXIED_HEADER: &str = "latchkey-proxied";

/// One REST call.
#[derive(Debug)]
pub struct RestCall {
    pub method: Method,
    /// Percent-encoded, from the root: `/ai/context/google?x=y`.
    pub path_and_query: String,
    /// Headers besides the caller's credential (which the edge supplies).
    pub headers: HeaderMap,
    /// JSON, or empty.
    pub body: Bytes,
    /// For an agent: what this call uses its token for (`mcp.fetch_token:google`). The edge
    /// authorizes the use before it makes the call, and makes none if it is refused.
    pub use_scope: String,
}

/// What the route answered.
#[derive(Debug)]
pub struct RestAnswer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Makes REST calls as the caller the edge authenticated.
pub trait Door: Send + Sync + 'static {
    /// Makes `call` for the caller whose identity the edge left in `edge` (the MCP HTTP request's
    /// extensions). Never fails as such: a refusal is an answer with the route's problem.
    fn call(&self, edge: &http::Extensions, call: RestCall) -> impl Future<Output = RestAnswer> + Send;
}
