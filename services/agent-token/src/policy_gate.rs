//! The account's policies, asked at every token issue: agent-token sends the policy service the
//! request with everything it knows about the agent (so policy never calls back), and carries out
//! the answer. Allow: issue. Deny: `FORBIDDEN` naming the policy and rule, and a `token.denied`
//! event through this service's outbox. Throttle with the window full: `RATE_LIMITED` with the
//! seconds until the next window. Require approval: the request is held (policy created the
//! approval). Anything else from policy (unreachable, timed out, failing) refuses the token with
//! `SERVICE_UNAVAILABLE`: a request is never allowed because its policies could not be asked.

use std::time::Duration;

use latchkey_errors::{ApiError, ErrorCode};
use latchkey_events::{Envelope, catalogue::TokenDenied};
use latchkey_ids::{AccountId, ApprovalId, DecisionId};
use latchkey_proto::policy::v1::{self as policy_pb, policy_service_client::PolicyServiceClient};
use latchkey_server::{InfraError, MeshChannel};

use crate::{Agent, AgentToken, AgentTokenError, EVENT_SOURCE};

/// How long issue waits for a policy decision before refusing.
const POLICY_TIMEOUT: Duration = Duration::from_secs(3);

/// The policy service, as agent-token reaches it.
pub type PolicyClient = PolicyServiceClient<MeshChannel>;

/// What the policies let the issue path do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Issue the token.
    Issue,
    /// Issue the token a person approved: with exactly the approved lifetime and intent.
    IssueApproved { ttl: i64, intent: Option<String> },
    /// Held for approval: no token now.
    Held {
        approval_id: ApprovalId,
        expires_at_ms: i64,
    },
}

/// The request as policy decides it.
pub(crate) struct Asked<'a> {
    pub agent: &'a Agent,
    pub scope: &'a [String],
    pub audience: &'a str,
    pub ttl: i64,
    pub intent: Option<&'a str>,
    pub approval_id: Option<&'a ApprovalId>,
    pub decision_id: &'a DecisionId,
    pub actor: Option<&'a str>,
}

/// Refuses when policy could not answer; passes on what it refused the request for.
fn policy_failure(status: &tonic::Status) -> AgentTokenError {
    let error = ApiError::from_status(status);
    match error.code {
        ErrorCode::NotFound | ErrorCode::Unprocessable | ErrorCode::ValidationError | ErrorCode::Forbidden => {
            AgentTokenError::Invalid(error)
        }
        ErrorCode::RateLimited => AgentTokenError::Infra(InfraError::Throttled {
            message: error.message,
            retry_after_secs: error.retry_after_secs,
        }),
        _ => {
            tracing::warn!(grpc.code = ?status.code(), grpc.message = status.message(), "policy service failed; refusing the token");
            AgentTokenError::Infra(InfraError::Unavailable("policy"))
        }
    }
}

impl AgentToken {
    /// Asks the account's policies about `asked` and carries out the answer (see the module).
    pub(crate) async fn gate(&self, account: &AccountId, asked: Asked<'_>) -> Result<Gate, AgentTokenError> {
        let Some(client) = self.policy.clone() else {
            tracing::error!("no policy service is configured; refusing the token");
            return Err(InfraError::Unavailable("policy").into());
        };
        let agent = asked.agent;
        let message = policy_pb::EvaluateRequest {
            agent_id: agent.id.to_string(),
            scope: asked.scope.to_vec(),
            target_service: asked.audience.to_owned(),
            agent: Some(policy_pb::AgentFacts {
                owner: agent.owner.clone(),
                model_provider: agent.model_provider.clone(),
                framework: agent.framework.clone(),
                status: agent.status.as_str().to_owned(),
            }),
            enforce: true,
            decision_id: asked.decision_id.to_string(),
            approval_id: asked.approval_id.map(ToString::to_string).unwrap_or_default(),
            ttl: asked.ttl,
            intent: asked.intent.unwrap_or_default().to_owned(),
            requested_by: asked.actor.unwrap_or_default().to_owned(),
        };
        let request = latchkey_server::with_account(message, account.as_str(), asked.actor);
        let answer = match tokio::time::timeout(POLICY_TIMEOUT, client.clone().evaluate(request)).await {
            Ok(Ok(answer)) => answer.into_inner(),
            Ok(Err(status)) => return Err(policy_failure(&status)),
            Err(_) => {
                tracing::warn!("policy service did not answer in time; refusing the token");
                return Err(InfraError::Unavailable("policy").into());
            }
        };
        match answer.effect.as_str() {
            "allow" if answer.redeemed => Ok(Gate::IssueApproved {
                ttl: answer.redeemed_ttl,
                intent: Some(answer.redeemed_intent).filter(|intent| !intent.is_empty()),
            }),
            "allow" => Ok(Gate::Issue),
            "throttle" if !answer.throttled => Ok(Gate::Issue),
            "throttle" => Err(InfraError::Throttled {
                message: format!(
                    "{}; retry in {} s (decision {})",
                    answer.reason, answer.retry_after_secs, asked.decision_id
                ),
                retry_after_secs: Some(u64::from(answer.retry_after_secs.max(1))),
            }
            .into()),
            "require_approval" if !answer.approval_id.is_empty() => match ApprovalId::try_from(answer.approval_id) {
                Ok(approval_id) => Ok(Gate::Held {
                    approval_id,
                    expires_at_ms: answer.approval_expires_at_ms,
                }),
                Err(error) => {
                    tracing::error!(%error, "policy answered an approval id that does not parse; refusing");
                    Err(InfraError::Unavailable("policy").into())
                }
            },
            "deny" => Err(self.deny(account, &asked, &answer).await?),
            other => {
                tracing::error!(
                    effect = other,
                    "policy answered an effect this service does not know; refusing"
                );
                Err(InfraError::Unavailable("policy").into())
            }
        }
    }

    /// Records the denial (`token.denied`, with the decision id) and builds the `FORBIDDEN` answer
    /// naming the policy and rule. The event is the only thing written.
    async fn deny(
        &self,
        account: &AccountId,
        asked: &Asked<'_>,
        answer: &policy_pb::EvaluateResponse,
    ) -> Result<AgentTokenError, AgentTokenError> {
        let policy_id = Some(answer.policy_id.clone()).filter(|id| !id.is_empty());
        let event = TokenDenied {
            agent_id: asked.agent.id.to_string(),
            scope: asked.scope.to_vec(),
            audience: asked.audience.to_owned(),
            policy_id: policy_id.clone(),
            rule_index: answer.rule_index,
            reason: answer.reason.clone(),
        };
        let mut envelope = Envelope::new(EVENT_SOURCE, account.as_str(), asked.actor, &event);
        envelope.decisionid = Some(asked.decision_id.to_string());
        let mut tx = self.db.begin_write().await?;
        self.outbox.enqueue(&mut tx, &envelope).await?;
        self.outbox.commit(tx).await?;
        let by = match (policy_id, answer.rule_index) {
            (Some(policy_id), Some(rule)) => format!("policy {policy_id} rule {rule}"),
            _ => "the account's default policy setting".to_owned(),
        };
        let message = format!(
            "token request denied by {by}: {} (decision {})",
            answer.reason, asked.decision_id
        );
        Ok(AgentTokenError::Invalid(ApiError::new(ErrorCode::Forbidden, message)))
    }
}
