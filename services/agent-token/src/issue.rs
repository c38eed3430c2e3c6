//! Issuing agent tokens: who may ask, what they may ask for, what the account's policies say (see
//! `policy_gate`), and the signed token they get. Each issue is recorded as a `token.issued` event
//! (never the token itself) in the same transaction that makes it count. A request a policy holds
//! for approval gets no token now: the caller asks again with the approval's id once it is approved,
//! and gets the token that one time.

use latchkey_errors::{ApiError, ErrorCode, FieldError};
use latchkey_events::{Envelope, catalogue::TokenIssued};
use latchkey_ids::{AccountId, AgentId, ApprovalId, DecisionId};
use latchkey_server::InfraError;

use crate::{
    AgentStatus, AgentToken, AgentTokenError, EVENT_SOURCE,
    policy_gate::{Asked, Gate},
    signing::now_secs,
    tokens::{self, ANY_AUDIENCE, Claims},
};

/// Default lifetime of a token, seconds (AuthRAI: 300; the longest, 86400, is `MAX_TTL_SECS`).
pub const DEFAULT_TTL_SECS: i64 = 300;
/// The longest lifetime is the token format's own, so verifiers replay exactly that much revocation history.
pub use crate::tokens::MAX_TTL_SECS;
use crate::tokens::scope::{self, MAX_SCOPE_LEN, MAX_SCOPES};
const MAX_INTENT_CHARS: usize = 500;

/// What a caller asks for.
#[derive(Clone, Debug, Default)]
pub struct TokenRequest {
    /// `None` when the caller named none (a validation error, reported with the other fields').
    pub agent_id: Option<AgentId>,
    pub scope: Vec<String>,
    /// Seconds; `None` for the default.
    pub ttl: Option<i64>,
    /// `None` or empty for "any".
    pub target_service: Option<String>,
    pub intent: Option<String>,
    /// `apr_…`: redeem this approved approval (for the same agent, scope and target service).
    /// Checked with the other fields: one that is not an approval id is a validation error.
    pub approval_id: Option<String>,
}

/// Who asks: the account (with one of its API keys) or an agent with its own secret key.
#[derive(Clone, Debug)]
pub enum Requester {
    Account { api_key_id: Option<String> },
    Agent { agent_id: AgentId },
}

/// A signed token and what it grants.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    pub token: String,
    pub claims: Claims,
    pub decision_id: DecisionId,
}

/// A request a policy holds for approval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldForApproval {
    pub approval_id: ApprovalId,
    pub agent_id: AgentId,
    pub scope: Vec<String>,
    pub audience: String,
    /// Unix milliseconds.
    pub expires_at_ms: i64,
    pub decision_id: DecisionId,
}

/// What an issue request gets.
#[derive(Clone, Debug)]
pub enum IssueOutcome {
    Issued(IssuedToken),
    Held(HeldForApproval),
}

/// Checks a requested scope list (issue and delegation alike): 1 to 50 scopes, each a dotted name
/// with `*` only as its last segment (`latchkey_tokens::scope`).
pub(crate) fn check_scopes(scopes: &[String], errors: &mut Vec<FieldError>) {
    if scopes.is_empty() {
        errors.push(FieldError::new("scope", "must name at least one scope"));
    } else if scopes.len() > MAX_SCOPES {
        errors.push(FieldError::new("scope", format!("at most {MAX_SCOPES} scopes")));
    }
    for (i, requested) in scopes.iter().enumerate() {
        if let Err(problem) = scope::check_scope(requested) {
            errors.push(FieldError::new(format!("scope[{i}]"), problem.to_string()));
        }
    }
}

/// A target service is a name, never a pattern: a token for `*` would be for no service a rule or a
/// verifier names.
pub(crate) fn target_problem(target: &str) -> Option<String> {
    (target.len() > MAX_SCOPE_LEN || target.chars().any(|c| c.is_control() || c.is_whitespace() || c == '*'))
        .then(|| format!("must be a service name: up to {MAX_SCOPE_LEN} characters, no spaces or `*`"))
}

/// A request whose every field checked out.
struct ValidTokenRequest {
    agent_id: AgentId,
    scope: Vec<String>,
    /// `None`: not given (the default, or what an approval approved).
    ttl: Option<i64>,
    audience: String,
    intent: Option<String>,
    approval_id: Option<ApprovalId>,
}

impl TokenRequest {
    fn validated(self) -> Result<ValidTokenRequest, AgentTokenError> {
        let mut errors = Vec::new();
        if self.agent_id.is_none() {
            errors.push(FieldError::new("agent_id", "is required"));
        }
        check_scopes(&self.scope, &mut errors);
        if self.ttl.is_some_and(|ttl| !(1..=MAX_TTL_SECS).contains(&ttl)) {
            errors.push(FieldError::new(
                "ttl",
                format!("must be between 1 and {MAX_TTL_SECS} seconds"),
            ));
        }
        let target = self
            .target_service
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| ANY_AUDIENCE.to_owned());
        if let Some(problem) = target_problem(&target) {
            errors.push(FieldError::new("target_service", problem));
        }
        let intent = self.intent.filter(|i| !i.trim().is_empty());
        if intent.as_ref().is_some_and(|i| i.chars().count() > MAX_INTENT_CHARS) {
            errors.push(FieldError::new(
                "intent",
                format!("must be at most {MAX_INTENT_CHARS} characters"),
            ));
        }
        let approval_id = match self.approval_id.filter(|id| !id.is_empty()).map(ApprovalId::try_from) {
            None => None,
            Some(Ok(id)) => Some(id),
            Some(Err(_)) => {
                errors.push(FieldError::new("approval_id", "must be an approval id (apr_…)"));
                None
            }
        };
        let (Some(agent_id), true) = (self.agent_id, errors.is_empty()) else {
            return Err(AgentTokenError::Invalid(ApiError::validation(errors)));
        };
        // Duplicates add nothing; keep the first of each, in the caller's order.
        let mut seen = std::collections::HashSet::new();
        let scope: Vec<String> = self.scope.into_iter().filter(|s| seen.insert(s.clone())).collect();
        Ok(ValidTokenRequest {
            agent_id,
            scope,
            ttl: self.ttl,
            audience: target,
            intent,
            approval_id,
        })
    }
}

fn forbidden(message: &str) -> AgentTokenError {
    AgentTokenError::Invalid(ApiError::new(ErrorCode::Forbidden, message))
}

impl AgentToken {
    /// Issues a token to an active agent of `account`, if its policies allow it now.
    pub async fn issue_token(
        &self,
        account: &AccountId,
        requester: &Requester,
        request: TokenRequest,
    ) -> Result<IssueOutcome, AgentTokenError> {
        let ValidTokenRequest {
            agent_id,
            scope,
            ttl,
            audience,
            intent,
            approval_id,
        } = request.validated()?;
        if let Requester::Agent { agent_id: own } = requester
            && own != &agent_id
        {
            return Err(forbidden("an agent can only request tokens for itself"));
        }
        // Counted before anything is looked up, so unknown agent ids cost the account too.
        self.limits.issue(account, &agent_id)?;
        let agent = self.get_agent(account, &agent_id).await?;
        match agent.status {
            AgentStatus::Active => {}
            AgentStatus::Paused => return Err(forbidden("the agent is paused")),
            AgentStatus::Revoked => return Err(forbidden("the agent is revoked")),
        }
        let decision_id = DecisionId::new();
        let actor = match requester {
            Requester::Account { api_key_id } => api_key_id.clone(),
            Requester::Agent { agent_id } => Some(agent_id.to_string()),
        };
        // A redemption passes on only what the caller gave: policy refuses anything but what was
        // approved, and answers the approved lifetime and intent for an omitted one.
        let asked_ttl = match (&approval_id, ttl) {
            (Some(_), None) => 0,
            (_, ttl) => ttl.unwrap_or(DEFAULT_TTL_SECS),
        };
        let asked = Asked {
            agent: &agent,
            scope: &scope,
            audience: &audience,
            ttl: asked_ttl,
            intent: intent.as_deref(),
            approval_id: approval_id.as_ref(),
            decision_id: &decision_id,
            actor: actor.as_deref(),
        };
        let (ttl, intent) = match self.gate(account, asked).await? {
            Gate::Issue => (asked_ttl, intent),
            Gate::IssueApproved { ttl, intent } => (ttl, intent),
            Gate::Held {
                approval_id,
                expires_at_ms,
            } => {
                return Ok(IssueOutcome::Held(HeldForApproval {
                    approval_id,
                    agent_id: agent.id,
                    scope,
                    audience,
                    expires_at_ms,
                    decision_id,
                }));
            }
        };
        if !(1..=MAX_TTL_SECS).contains(&ttl) {
            tracing::error!(ttl, "policy answered an approved ttl out of range; refusing");
            return Err(InfraError::Unavailable("policy").into());
        }
        let now = now_secs();
        let claims = Claims {
            iss: self.issuer.to_string(),
            sub: agent.id.to_string(),
            aud: audience,
            scope,
            exp: now + ttl,
            iat: now,
            nbf: now,
            jti: tokens::new_jti(),
            account: account.to_string(),
            intent,
            act: None,
        };
        let token = self
            .signing_keys
            .read(|ring| tokens::issue(ring, &claims, now))
            .map_err(|error| {
                tracing::error!(%error, "cannot sign a token");
                AgentTokenError::Infra(InfraError::Internal("cannot sign a token"))
            })?;
        let event = TokenIssued {
            jti: claims.jti.clone(),
            agent_id: claims.sub.clone(),
            scope: claims.scope.clone(),
            audience: claims.aud.clone(),
            expires_at: claims.exp,
            intent: claims.intent.clone(),
            delegated_from: None,
        };
        let mut envelope = Envelope::new(EVENT_SOURCE, account.as_str(), actor.as_deref(), &event);
        envelope.decisionid = Some(decision_id.to_string());
        if self.counts_issued_tokens() {
            let mut tx = self.db.begin_write().await?;
            self.count_issued_token(&mut tx, account).await?;
            self.outbox.enqueue(&mut tx, &envelope).await?;
            self.outbox.commit(tx).await?;
        } else {
            // The event is the issue's only write: committed with the issues of the same moment.
            self.outbox.write(envelope).await.map_err(|error| {
                tracing::error!(%error, "cannot record an issued token");
                AgentTokenError::Infra(InfraError::Unavailable("the outbox"))
            })?;
        }
        Ok(IssueOutcome::Issued(IssuedToken {
            token,
            claims,
            decision_id,
        }))
    }

    /// The JSON Web Key Set of every published verifying key.
    pub fn jwks(&self) -> serde_json::Value {
        self.signing_keys.read(|ring| ring.jwks(now_secs()))
    }

    /// Rotates the signing key (see [`SigningKeys::rotate`](crate::signing::SigningKeys::rotate)).
    pub async fn rotate_signing_key(&self, publish_lead_secs: i64) -> Result<String, AgentTokenError> {
        self.signing_keys
            .rotate(&self.db, publish_lead_secs, MAX_TTL_SECS)
            .await
    }
}

#[cfg(test)]
mod tests;
