//! Delegation: a token holder hands a narrower token to a named sub-agent (RFC 8693 `act` chain).

use super::{ANY_AUDIENCE, Actor, Claims, new_jti, scope};

/// The longest actor chain a delegated token may carry. Bounds token size and keeps chains auditable.
pub const MAX_DELEGATION_DEPTH: usize = 4;
/// The largest claims set (JSON bytes) a delegated token may carry, so a token still fits in the
/// HTTP header it travels in (a signed token is about 4/3 of this plus 150 bytes).
pub const MAX_CLAIMS_BYTES: usize = 8 * 1024;

/// What the holder of a token asks to delegate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DelegationRequest {
    /// The scope of the new token; each pattern must be covered by the parent's scope.
    pub scope: Vec<String>,
    /// The new token's lifetime in seconds; it must end no later than the parent token.
    pub ttl: i64,
    /// The agent the new token is for.
    pub sub_agent: String,
    /// The new token's audience; `None` keeps the parent's.
    pub audience: Option<String>,
}

/// Why a delegation was refused. [`field`](Self::field) names the offending request field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DelegationError {
    /// The request names no scope.
    #[error("scope: at least one scope is required")]
    EmptyScope,
    /// The request names more scopes than a token may carry.
    #[error("scope: at most {} scopes", scope::MAX_SCOPES)]
    TooManyScopes,
    /// A requested scope is not a scope ([`scope::check_scope`]).
    #[error("scope: {scope:?} {problem}")]
    BadScope { scope: String, problem: scope::ScopeError },
    /// The sub-agent is the delegating agent, or already in its delegation chain.
    #[error("sub_agent: {sub_agent} is already in the delegation chain; an agent cannot delegate to itself")]
    SubAgentInChain { sub_agent: String },
    /// The new token would be larger than [`MAX_CLAIMS_BYTES`].
    #[error("scope: the delegated token would exceed {MAX_CLAIMS_BYTES} bytes of claims")]
    TooLarge,
    /// A requested scope is not within the parent token's scope.
    #[error("scope: {scope:?} is wider than the delegating token's scope")]
    ScopeWidened {
        /// The first requested scope the parent does not cover.
        scope: String,
    },
    /// The ttl is zero or negative.
    #[error("ttl: must be positive")]
    TtlNotPositive,
    /// The new token would outlive the parent. Refused rather than silently shortened, so the
    /// caller never holds a token shorter than it asked for without knowing.
    #[error("ttl: at most {max_ttl} seconds remain on the delegating token")]
    TtlExceedsParent {
        /// The longest ttl that would have been accepted.
        max_ttl: i64,
    },
    /// The requested audience is not the parent's, and the parent's is not "any".
    #[error("audience: the delegating token is limited to {parent:?}")]
    AudienceWidened {
        /// The parent token's audience.
        parent: String,
    },
    /// The sub-agent is empty.
    #[error("sub_agent: required")]
    MissingSubAgent,
    /// The parent token has expired (or is not valid yet), so it grants nothing to delegate.
    #[error("token: the delegating token is not currently valid")]
    ParentNotValid,
    /// The actor chain would exceed [`MAX_DELEGATION_DEPTH`].
    #[error("token: delegation is limited to {MAX_DELEGATION_DEPTH} levels")]
    TooDeep,
}

impl DelegationError {
    /// The request field at fault: `scope`, `ttl`, `audience`, `sub_agent` or `token`.
    pub fn field(&self) -> &'static str {
        match self {
            Self::EmptyScope
            | Self::TooManyScopes
            | Self::BadScope { .. }
            | Self::ScopeWidened { .. }
            | Self::TooLarge => "scope",
            Self::TtlNotPositive | Self::TtlExceedsParent { .. } => "ttl",
            Self::AudienceWidened { .. } => "audience",
            Self::MissingSubAgent | Self::SubAgentInChain { .. } => "sub_agent",
            Self::ParentNotValid | Self::TooDeep => "token",
        }
    }
}

/// The claims of a token delegated from `parent` (already verified by the caller) at `now`: scope a
/// subset of the parent's (a narrower wildcard is fine, a wider one is not), expiry no later than the
/// parent's, audience the same or narrower ("any" may become a service, never the reverse), a new
/// jti, `sub` the sub-agent, the same issuer, account and intent, and an `act` chain that is the
/// parent's with the parent's subject (and jti) pushed on top. Sign the result with
/// [`issue`](super::issue).
pub fn delegate(parent: &Claims, request: DelegationRequest, now: i64) -> Result<Claims, DelegationError> {
    if now < parent.nbf || now >= parent.exp {
        return Err(DelegationError::ParentNotValid);
    }
    if parent.delegation_depth() >= MAX_DELEGATION_DEPTH {
        return Err(DelegationError::TooDeep);
    }
    if request.scope.is_empty() {
        return Err(DelegationError::EmptyScope);
    }
    if request.scope.len() > scope::MAX_SCOPES {
        return Err(DelegationError::TooManyScopes);
    }
    for requested in &request.scope {
        if let Err(problem) = scope::check_scope(requested) {
            return Err(DelegationError::BadScope {
                scope: requested.clone(),
                problem,
            });
        }
    }
    if let Some(wider) = scope::first_uncovered(&parent.scope, &request.scope) {
        return Err(DelegationError::ScopeWidened {
            scope: wider.to_owned(),
        });
    }
    if request.ttl <= 0 {
        return Err(DelegationError::TtlNotPositive);
    }
    let max_ttl = parent.exp - now;
    if request.ttl > max_ttl {
        return Err(DelegationError::TtlExceedsParent { max_ttl });
    }
    let aud = match request.audience {
        None => parent.aud.clone(),
        Some(audience) if audience == parent.aud || parent.aud == ANY_AUDIENCE => audience,
        Some(_) => {
            return Err(DelegationError::AudienceWidened {
                parent: parent.aud.clone(),
            });
        }
    };
    if request.sub_agent.trim().is_empty() {
        return Err(DelegationError::MissingSubAgent);
    }
    if request.sub_agent == parent.sub || parent.actors().any(|actor| actor.sub == request.sub_agent) {
        return Err(DelegationError::SubAgentInChain {
            sub_agent: request.sub_agent,
        });
    }
    let act = Actor {
        sub: parent.sub.clone(),
        jti: Some(parent.jti.clone()),
        act: parent.act.clone().map(Box::new),
    };
    let claims = Claims {
        iss: parent.iss.clone(),
        sub: request.sub_agent,
        aud,
        scope: request.scope,
        exp: now + request.ttl,
        iat: now,
        nbf: now,
        jti: new_jti(),
        account: parent.account.clone(),
        intent: parent.intent.clone(),
        act: Some(act),
    };
    if serde_json::to_vec(&claims).map_or(true, |json| json.len() > MAX_CLAIMS_BYTES) {
        return Err(DelegationError::TooLarge);
    }
    Ok(claims)
}
