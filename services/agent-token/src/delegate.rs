//! Delegation: the holder of a valid token exchanges it for a narrower one for a sub-agent of the
//! same account, offline-verifiable like any other, with an `act` chain naming who delegated. Never
//! wider: scope within the parent's, lifetime within what remains of it, audience the same or
//! narrower. Revoking the parent (or any agent in the chain) revokes the delegated token too.
//!
//! A delegation is a token issue for the sub-agent: it is rate-limited (per delegating token and per
//! account), and the account's policies decide it for the sub-agent exactly as they decide
//! `POST /v1/tokens` (deny, throttle and require_approval apply). A delegation held for approval is
//! redeemed like any held request: by asking `POST /v1/tokens` for the sub-agent with the approval's
//! id, which yields exactly the approved scope, lifetime and intent.

use latchkey_errors::{ApiError, ErrorCode, FieldError};
use latchkey_events::{Envelope, catalogue::TokenDelegated};
use latchkey_ids::{AccountId, AgentId, DecisionId};
use latchkey_server::{InfraError, stored_id};

use crate::{
    AgentStatus, AgentToken, AgentTokenError, DEFAULT_TTL_SECS, EVENT_SOURCE, HeldForApproval, IssueOutcome,
    IssuedToken,
    issue::{check_scopes, target_problem},
    policy_gate::{Asked, Gate},
    signing::now_secs,
    tokens::{self, DelegationRequest, Requirements},
};

/// What the holder asks for.
#[derive(Clone, Debug)]
pub struct Delegation {
    pub token: String,
    pub scope: Vec<String>,
    pub ttl: Option<i64>,
    pub sub_agent: AgentId,
    pub target_service: Option<String>,
}

fn invalid(field: &str, message: impl Into<String>) -> AgentTokenError {
    AgentTokenError::Invalid(ApiError::validation(vec![FieldError::new(field, message)]))
}

impl AgentToken {
    /// Issues a token delegated from `request.token`, if the account's policies allow it for the
    /// sub-agent; or holds it for approval.
    pub async fn delegate_token(&self, request: Delegation) -> Result<IssueOutcome, AgentTokenError> {
        let parent = match self.verify_token(&request.token, &Requirements::default()) {
            None => return Err(InfraError::Unavailable("token verification").into()),
            Some(Err(reason)) => {
                let message = format!("the delegating token is not valid ({})", reason.as_str());
                return Err(AgentTokenError::Invalid(ApiError::new(
                    ErrorCode::Unauthorized,
                    message,
                )));
            }
            Some(Ok(claims)) => claims,
        };
        // The token verified with this service's keys: its account and agent are ids this service wrote.
        let account: AccountId = stored_id(parent.account.clone())?;
        self.limits.delegation(&account, &parent.jti, &request.sub_agent)?;
        let mut errors = Vec::new();
        check_scopes(&request.scope, &mut errors);
        let target = request.target_service.filter(|t| !t.is_empty());
        if let Some(problem) = target.as_deref().and_then(target_problem) {
            errors.push(FieldError::new("target_service", problem));
        }
        if !errors.is_empty() {
            return Err(AgentTokenError::Invalid(ApiError::validation(errors)));
        }
        let now = now_secs();
        let ttl = request.ttl.unwrap_or_else(|| DEFAULT_TTL_SECS.min(parent.exp - now));
        // Both ends of the delegation must be active agents of the token's account.
        let parent_agent: AgentId = stored_id(parent.sub.clone())?;
        let mut sub_agent = None;
        for (field, agent_id) in [("token", &parent_agent), ("sub_agent", &request.sub_agent)] {
            match self.get_agent(&account, agent_id).await {
                Ok(agent) if agent.status == AgentStatus::Active => sub_agent = Some(agent),
                Ok(_) => {
                    let message = format!("{field}: the agent is paused or revoked");
                    return Err(AgentTokenError::Invalid(ApiError::new(ErrorCode::Forbidden, message)));
                }
                Err(AgentTokenError::AgentNotFound) if field == "sub_agent" => {
                    return Err(AgentTokenError::AgentNotFound);
                }
                Err(error) => return Err(error),
            }
        }
        let Some(sub_agent) = sub_agent else {
            return Err(AgentTokenError::AgentNotFound);
        };
        let delegation = DelegationRequest {
            scope: request.scope,
            ttl,
            sub_agent: request.sub_agent.to_string(),
            audience: target,
        };
        let claims = tokens::delegate(&parent, delegation, now).map_err(|error| {
            let message = error.to_string();
            let message = message.split_once(": ").map_or(message.as_str(), |(_, m)| m).to_owned();
            invalid(error.field(), message)
        })?;
        let decision_id = DecisionId::new();
        let asked = Asked {
            agent: &sub_agent,
            scope: &claims.scope,
            audience: &claims.aud,
            ttl: claims.exp - claims.iat,
            intent: claims.intent.as_deref(),
            approval_id: None,
            decision_id: &decision_id,
            actor: Some(&parent.sub),
        };
        match self.gate(&account, asked).await? {
            Gate::Issue | Gate::IssueApproved { .. } => {}
            Gate::Held {
                approval_id,
                expires_at_ms,
            } => {
                return Ok(IssueOutcome::Held(HeldForApproval {
                    approval_id,
                    agent_id: sub_agent.id,
                    scope: claims.scope,
                    audience: claims.aud,
                    expires_at_ms,
                    decision_id,
                }));
            }
        }
        let token = self
            .signing_keys
            .read(|ring| tokens::issue(ring, &claims, now))
            .map_err(|error| {
                tracing::error!(%error, "cannot sign a delegated token");
                AgentTokenError::Infra(InfraError::Internal("cannot sign a delegated token"))
            })?;
        let event = TokenDelegated {
            jti: claims.jti.clone(),
            agent_id: claims.sub.clone(),
            delegated_by: parent.sub.clone(),
            parent_jti: parent.jti.clone(),
            scope: claims.scope.clone(),
            audience: claims.aud.clone(),
            expires_at: claims.exp,
            intent: claims.intent.clone(),
            depth: u32::try_from(claims.delegation_depth()).unwrap_or(u32::MAX),
        };
        let mut envelope = Envelope::new(EVENT_SOURCE, account.as_str(), Some(&parent.sub), &event);
        envelope.decisionid = Some(decision_id.to_string());
        let mut tx = self.db.begin_write().await?;
        self.count_issued_token(&mut tx, &account).await?;
        self.outbox.enqueue(&mut tx, &envelope).await?;
        self.outbox.commit(tx).await?;
        Ok(IssueOutcome::Issued(IssuedToken {
            token,
            claims,
            decision_id,
        }))
    }
}
