//! The token request a policy decides: what the agent asks for, with what the agent registry knows
//! about the agent.

use serde::{Deserialize, Serialize};

/// The target service of a token usable at every service (the token API's default).
pub const ANY_TARGET: &str = "any";

/// The token request being decided, with what the agent registry knows about the agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRequest {
    pub agent_id: String,
    pub owner: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework: Option<String>,
    pub scopes: Vec<String>,
    /// [`ANY_TARGET`] when the token is for every service.
    pub target_service: String,
}
