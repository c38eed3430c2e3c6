//! Evaluating a token request against the account's active policies. Nothing is issued and nothing
//! is counted here: the answer says what would happen and which rule decided it. The agent's
//! attributes (owner, provider, framework) come from the caller when it has them (agent-token at
//! issue time), otherwise from agent-token over gRPC, with the mesh credential and the account.

use chrono::Utc;
use latchkey_errors::{ApiError, FieldError};
use latchkey_proto::agent_token::v1::GetAgentRequest;

use crate::{
    Policy, PolicyError,
    engine::{self, ANY_TARGET, Decision, Effect, TokenRequest},
};

/// The most scopes one request may name, and the longest scope or target (as agent-token allows).
const MAX_SCOPES: usize = 50;
const MAX_NAME_LEN: usize = 128;

/// What policy rules know about an agent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentFacts {
    pub owner: String,
    pub model_provider: Option<String>,
    pub framework: Option<String>,
    /// `active`, `paused` or `revoked`.
    pub status: String,
}

/// A token request to decide.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EvaluationRequest {
    pub agent_id: String,
    pub scope: Vec<String>,
    /// `None` or empty for "any".
    pub target_service: Option<String>,
    /// `None`: look the agent up in agent-token.
    pub agent: Option<AgentFacts>,
}

/// The decision, and whether a token would be issued now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    pub decision: Decision,
    /// The effect lets the request through (allow, or throttle: the dry run does not consult the
    /// counters) and the agent is active, so it could get a token.
    pub would_issue: bool,
}

impl EvaluationRequest {
    /// Checks the fields the way a token request is checked, naming each at fault.
    fn validated(self) -> Result<Self, PolicyError> {
        let mut errors = Vec::new();
        let bad_name = |name: &str| {
            name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(|c| c.is_whitespace() || c.is_control())
        };
        if self.agent_id.trim().is_empty() {
            errors.push(FieldError::new("agent_id", "is required"));
        }
        if self.scope.is_empty() {
            errors.push(FieldError::new("scope", "must name at least one scope"));
        } else if self.scope.len() > MAX_SCOPES {
            errors.push(FieldError::new("scope", format!("at most {MAX_SCOPES} scopes")));
        }
        for (index, scope) in self.scope.iter().enumerate() {
            if bad_name(scope) {
                let message = format!("must be 1 to {MAX_NAME_LEN} characters without spaces");
                errors.push(FieldError::new(format!("scope[{index}]"), message));
            }
        }
        if let Some(target) = self.target_service.as_deref().filter(|t| !t.is_empty())
            && bad_name(target)
        {
            let message = format!("must be up to {MAX_NAME_LEN} characters without spaces");
            errors.push(FieldError::new("target_service", message));
        }
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(PolicyError::Invalid(ApiError::validation(errors)))
        }
    }
}

impl Policy {
    /// Decides `request` against `account_id`'s active policies, now. Another account's policies
    /// are never read: the query names the account.
    pub async fn evaluate(&self, account_id: &str, request: EvaluationRequest) -> Result<Evaluation, PolicyError> {
        let request = request.validated()?;
        let agent = match request.agent {
            Some(agent) => agent,
            None => self.agent_facts(account_id, &request.agent_id).await?,
        };
        let mut policies = Vec::new();
        for stored in self.active_policies(account_id).await? {
            let valid = stored.definition.validate().map_err(|errors| PolicyError::Corrupt {
                policy_id: stored.id.clone(),
                reason: format!("{} validation errors, first {:?}", errors.len(), errors.first()),
            })?;
            policies.push(engine::Policy::new(stored.id, valid));
        }
        let default = self.settings(account_id).await?.default_effect.effect();
        let token_request = TokenRequest {
            agent_id: request.agent_id,
            owner: agent.owner,
            model_provider: agent.model_provider,
            framework: agent.framework,
            scopes: request.scope,
            target_service: request
                .target_service
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| ANY_TARGET.to_owned()),
        };
        let decision = engine::evaluate(&policies, &token_request, Utc::now(), default);
        let lets_through = matches!(decision.effect, Effect::Allow | Effect::Throttle { .. });
        Ok(Evaluation {
            would_issue: lets_through && agent.status == "active",
            decision,
        })
    }

    /// The agent's attributes from agent-token, acting for `account_id`: another account's agent is
    /// not found, exactly like a missing one.
    async fn agent_facts(&self, account_id: &str, agent_id: &str) -> Result<AgentFacts, PolicyError> {
        let request = latchkey_server::with_account(
            GetAgentRequest {
                id: agent_id.to_owned(),
            },
            account_id,
            None,
        );
        let agent = self
            .agents
            .clone()
            .get_agent(request)
            .await
            .map_err(|status| match status.code() {
                tonic::Code::NotFound => PolicyError::AgentNotFound,
                _ => PolicyError::AgentLookup(status),
            })?
            .into_inner();
        let present = |value: String| (!value.is_empty()).then_some(value);
        Ok(AgentFacts {
            owner: agent.owner,
            model_provider: present(agent.model_provider),
            framework: present(agent.framework),
            status: agent.status,
        })
    }
}
