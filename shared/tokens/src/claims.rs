//! The claims an agent token carries.

use serde::{Deserialize, Serialize};

/// The payload of an agent token. Times are unix seconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who issued the token (the Latchkey deployment's issuer URL or name).
    pub iss: String,
    /// The agent the token was issued to (`agent_…`).
    pub sub: String,
    /// The target service, or [`ANY_AUDIENCE`](super::ANY_AUDIENCE) when the token names none.
    pub aud: String,
    /// Granted scope patterns; see [`scope`](super::scope) for the wildcard rule.
    pub scope: Vec<String>,
    /// Expiry: the token is invalid from this second on (give or take the verifier's leeway).
    pub exp: i64,
    /// When the token was issued.
    pub iat: i64,
    /// The token is invalid before this second.
    pub nbf: i64,
    /// The token's unique id (`tok_…`), the handle revocation uses.
    pub jti: String,
    /// The account the agent belongs to.
    pub account: String,
    /// What the agent said it needs the token for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    /// For a delegated token, the agent that delegated it, and the chain of earlier delegators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
}

/// One link of an RFC 8693 actor chain: `{"sub": <delegating agent>, "jti": …, "act": {…}}`. The
/// outermost actor delegated most recently; nested actors delegated before it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The agent that delegated.
    pub sub: String,
    /// The id of the token it delegated from. Not an RFC 8693 member (other consumers ignore it): it
    /// lets revoking a token also revoke every token delegated from it, which is otherwise a way
    /// round revocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The actor before this one, if the delegating token was itself delegated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

impl Claims {
    /// How many delegations separate this token from one issued directly to an agent (0 for those).
    pub fn delegation_depth(&self) -> usize {
        self.actors().count()
    }

    /// The actor chain, most recent delegator first.
    pub fn actors(&self) -> impl Iterator<Item = &Actor> {
        std::iter::successors(self.act.as_ref(), |actor| actor.act.as_deref())
    }
}

#[cfg(test)]
mod tests;
