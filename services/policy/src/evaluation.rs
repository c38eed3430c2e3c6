//! Evaluating a token request against the account's active policies. A dry run issues and counts
//! nothing: the answer says what would happen and which rule decided it. At token issue
//! ([`Enforcement`]) the decision is also carried out here: a throttle takes a slot of its shared
//! counter (or reports when the next window starts), require_approval holds the request as a pending
//! approval, and a request naming an approved approval redeems it instead of being evaluated. An
//! allow writes nothing. The agent's attributes (owner, provider, framework) come from the caller
//! when it has them (agent-token at issue time), otherwise from agent-token over gRPC, with the mesh
//! credential and the account. The account's policies come compiled from the cache (see `cache`).

use std::sync::Arc;

use chrono::Utc;
use latchkey_errors::{ApiError, FieldError};
use latchkey_ids::{AccountId, AgentId, ApprovalId, DecisionId, PolicyId};
use latchkey_proto::agent_token::v1::GetAgentRequest;
use latchkey_tokens::scope::{self, MAX_SCOPES};

use crate::{
    Policy, PolicyError,
    approvals::{HeldRequest, Redemption},
    cache::CompiledAccount,
    engine::{self, ANY_TARGET, Decision, Effect, TokenRequest},
    error::stored_id,
    throttle::Charge,
};

/// The longest target service (as agent-token allows); scopes are checked by `latchkey_tokens::scope`.
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
    /// Checked with the other fields first (empty is a validation error), then parsed: text that
    /// is no agent id names no agent, and is answered as agent-token answers an unknown one.
    pub agent_id: String,
    pub scope: Vec<String>,
    /// `None` or empty for "any".
    pub target_service: Option<String>,
    /// `None`: look the agent up in agent-token.
    pub agent: Option<AgentFacts>,
    /// `None` for a dry run; set at token issue.
    pub enforce: Option<Enforcement>,
}

/// What the issuing path adds to a request, so that the decision can be carried out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enforcement {
    /// The issue's decision id, kept with an approval and its events.
    pub decision_id: DecisionId,
    /// Redeem this approved approval instead of evaluating.
    pub approval_id: Option<ApprovalId>,
    /// The rest of the request, kept with an approval so a person can judge it.
    pub ttl: i64,
    pub intent: Option<String>,
    pub requested_by: Option<String>,
}

/// What enforcing the decision did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A dry run, or an effect with nothing to carry out here (allow, deny).
    Decided,
    /// A throttle with a free slot, now taken.
    Charged,
    /// A throttle whose window is full.
    Throttled { retry_after_secs: u32 },
    /// Held for approval.
    Held {
        approval_id: ApprovalId,
        expires_at_ms: i64,
    },
    /// An approved approval was redeemed (once); the decision is an allow, for exactly the ttl and
    /// intent that were approved.
    Redeemed {
        approval_id: ApprovalId,
        ttl: i64,
        intent: Option<String>,
    },
}

/// The decision, and whether a token would be issued now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    pub decision: Decision,
    /// The effect lets the request through (allow, or throttle: the dry run does not consult the
    /// counters) and the agent is active, so it could get a token.
    pub would_issue: bool,
    pub outcome: Outcome,
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
        for (index, requested) in self.scope.iter().enumerate() {
            if let Err(problem) = scope::check_scope(requested) {
                errors.push(FieldError::new(format!("scope[{index}]"), problem.to_string()));
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
    /// Decides `request` against `account`'s active policies, now. Another account's policies
    /// are never read: the query names the account.
    pub async fn evaluate(&self, account: &AccountId, request: EvaluationRequest) -> Result<Evaluation, PolicyError> {
        let request = request.validated()?;
        let agent_id = AgentId::parse(&request.agent_id).map_err(|_| PolicyError::AgentNotFound)?;
        let target_service = request
            .target_service
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| ANY_TARGET.to_owned());
        if let Some(enforcement) = request.enforce.as_ref()
            && let Some(approval_id) = enforcement.approval_id.as_ref()
        {
            let redemption = Redemption {
                agent_id: &agent_id,
                scope: &request.scope,
                target_service: &target_service,
                ttl: (enforcement.ttl != 0).then_some(enforcement.ttl),
                intent: enforcement.intent.as_deref(),
            };
            let approval = self.redeem(account, approval_id, redemption).await?;
            let rule_index = usize::try_from(approval.rule_index).unwrap_or_default();
            return Ok(Evaluation {
                decision: Decision::approved(
                    approval.policy_id.into_string(),
                    approval.policy_name,
                    rule_index,
                    approval.id.as_str(),
                ),
                would_issue: true,
                outcome: Outcome::Redeemed {
                    approval_id: approval.id,
                    ttl: approval.ttl,
                    intent: approval.intent,
                },
            });
        }
        let agent = match request.agent {
            Some(agent) => agent,
            None => self.agent_facts(account, &agent_id).await?,
        };
        let compiled = self.compiled(account).await?;
        let token_request = TokenRequest {
            agent_id: agent_id.to_string(),
            owner: agent.owner,
            model_provider: agent.model_provider,
            framework: agent.framework,
            scopes: request.scope,
            target_service,
        };
        let decision = engine::evaluate(&compiled.policies, &token_request, Utc::now(), compiled.default);
        let lets_through = matches!(decision.effect, Effect::Allow | Effect::Throttle { .. });
        let would_issue = lets_through && agent.status == "active";
        let outcome = match &request.enforce {
            Some(enforcement) => {
                self.enforce(account, &decision, &agent_id, &token_request, enforcement)
                    .await?
            }
            None => Outcome::Decided,
        };
        Ok(Evaluation {
            would_issue,
            decision,
            outcome,
        })
    }

    /// Carries out a decision at token issue: charges a throttle, holds a request for approval.
    async fn enforce(
        &self,
        account: &AccountId,
        decision: &Decision,
        agent_id: &AgentId,
        request: &TokenRequest,
        enforcement: &Enforcement,
    ) -> Result<Outcome, PolicyError> {
        match decision.effect {
            Effect::Allow | Effect::Deny => Ok(Outcome::Decided),
            Effect::Throttle { .. } => {
                let Some((key, limit, window_secs)) = decision.throttle_key() else {
                    return Ok(Outcome::Decided);
                };
                Ok(match self.charge(account, &key, limit, window_secs).await? {
                    Charge::Taken => Outcome::Charged,
                    Charge::Full { retry_after_secs } => Outcome::Throttled { retry_after_secs },
                })
            }
            Effect::RequireApproval => {
                // Only a policy's rule holds a request (the account default allows or denies), and
                // its id is one this service minted.
                let policy_id: PolicyId =
                    stored_id("the deciding policy", decision.policy_id.as_deref().unwrap_or_default())?;
                let held = HeldRequest {
                    agent_id,
                    scope: &request.scopes,
                    target_service: &request.target_service,
                    ttl: enforcement.ttl,
                    intent: enforcement.intent.as_deref(),
                    policy_id: &policy_id,
                    policy_name: decision.policy_name.as_deref().unwrap_or_default(),
                    rule_index: decision
                        .rule_index
                        .and_then(|index| u32::try_from(index).ok())
                        .unwrap_or_default(),
                    decision_id: &enforcement.decision_id,
                    requested_by: enforcement.requested_by.as_deref(),
                };
                let approval = self.hold(account, held).await?;
                Ok(Outcome::Held {
                    approval_id: approval.id,
                    expires_at_ms: approval.expires_at_ms,
                })
            }
        }
    }

    /// The account's active policies and default effect, compiled: from the cache when it holds them,
    /// else from the database (and then kept, unless a change raced the load).
    async fn compiled(&self, account: &AccountId) -> Result<Arc<CompiledAccount>, PolicyError> {
        if let Some(compiled) = self.cache.get(account) {
            return Ok(compiled);
        }
        let generation = self.cache.generation();
        let mut policies = Vec::new();
        for stored in self.active_policies(account).await? {
            let valid = stored.definition.validate().map_err(|errors| PolicyError::Corrupt {
                policy_id: stored.id.to_string(),
                reason: format!("{} validation errors, first {:?}", errors.len(), errors.first()),
            })?;
            policies.push(engine::Policy::new(stored.id, valid));
        }
        let default = self.settings(account).await?.default_effect.effect();
        let compiled = Arc::new(CompiledAccount { policies, default });
        self.cache.store(account, generation, compiled.clone());
        Ok(compiled)
    }

    /// The agent's attributes from agent-token, acting for `account`: another account's agent is
    /// not found, exactly like a missing one.
    async fn agent_facts(&self, account: &AccountId, agent: &AgentId) -> Result<AgentFacts, PolicyError> {
        let request = latchkey_server::with_account(GetAgentRequest { id: agent.to_string() }, account.as_str(), None);
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
