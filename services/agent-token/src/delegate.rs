//! Delegation: the holder of a valid token exchanges it for a narrower one for a sub-agent of the
//! same account, offline-verifiable like any other, with an `act` chain naming who delegated. Never
//! wider: scope within the parent's, lifetime within what remains of it, audience the same or
//! narrower. Revoking the parent (or any agent in the chain) revokes the delegated token too.

use latchkey_errors::{ApiError, ErrorCode, FieldError};
use latchkey_events::{Envelope, catalogue::TokenIssued};

use crate::{
    AgentStatus, AgentToken, AgentTokenError, DEFAULT_TTL_SECS, EVENT_SOURCE, IssuedToken,
    issue::scope_problem,
    secrets,
    signing::now_secs,
    tokens::{self, DelegationRequest, Requirements},
};

/// What the holder asks for.
#[derive(Clone, Debug, Default)]
pub struct Delegation {
    pub token: String,
    pub scope: Vec<String>,
    pub ttl: Option<i64>,
    pub sub_agent: String,
    pub target_service: Option<String>,
}

fn invalid(field: &str, message: impl Into<String>) -> AgentTokenError {
    AgentTokenError::Invalid(ApiError::validation(vec![FieldError::new(field, message)]))
}

impl AgentToken {
    /// Issues a token delegated from `request.token`.
    pub async fn delegate_token(&self, request: Delegation) -> Result<IssuedToken, AgentTokenError> {
        let parent = match self.verify_token(&request.token, &Requirements::default()) {
            None => return Err(AgentTokenError::Invalid(ApiError::unavailable())),
            Some(Err(reason)) => {
                let message = format!("the delegating token is not valid ({})", reason.as_str());
                return Err(AgentTokenError::Invalid(ApiError::new(
                    ErrorCode::Unauthorized,
                    message,
                )));
            }
            Some(Ok(claims)) => claims,
        };
        for (i, scope) in request.scope.iter().enumerate() {
            if let Some(problem) = scope_problem(scope) {
                return Err(invalid(&format!("scope[{i}]"), problem));
            }
        }
        let now = now_secs();
        let ttl = request.ttl.unwrap_or_else(|| DEFAULT_TTL_SECS.min(parent.exp - now));
        let account = parent.account.clone();
        // Both ends of the delegation must be active agents of the token's account.
        for (field, agent_id) in [("token", &parent.sub), ("sub_agent", &request.sub_agent)] {
            match self.get_agent(&account, agent_id).await {
                Ok(agent) if agent.status == AgentStatus::Active => {}
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
        let delegation = DelegationRequest {
            scope: request.scope,
            ttl,
            sub_agent: request.sub_agent,
            audience: request.target_service.filter(|t| !t.is_empty()),
        };
        let claims = tokens::delegate(&parent, delegation, now).map_err(|error| {
            let message = error.to_string();
            let message = message.split_once(": ").map_or(message.as_str(), |(_, m)| m).to_owned();
            invalid(error.field(), message)
        })?;
        let token = self
            .signing_keys
            .read(|ring| tokens::issue(ring, &claims, now))
            .map_err(|error| {
                tracing::error!(%error, "cannot sign a delegated token");
                AgentTokenError::Invalid(ApiError::internal())
            })?;
        let decision_id = secrets::new_id("dec");
        let event = TokenIssued {
            jti: claims.jti.clone(),
            agent_id: claims.sub.clone(),
            scope: claims.scope.clone(),
            audience: claims.aud.clone(),
            expires_at: claims.exp,
            intent: claims.intent.clone(),
            delegated_from: Some(parent.jti.clone()),
        };
        let mut envelope = Envelope::new(EVENT_SOURCE, &account, Some(&parent.sub), &event);
        envelope.decisionid = Some(decision_id.clone());
        let mut tx = self.db.begin_write().await?;
        self.outbox.enqueue(&mut tx, &envelope).await?;
        self.outbox.commit(tx).await?;
        Ok(IssuedToken {
            token,
            claims,
            decision_id,
        })
    }
}
