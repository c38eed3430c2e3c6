//! The gRPC face of the service: unpack, find out which account calls, call the domain, convert back.
//! Only mesh callers (the gateway, agent-token) reach it; the account is always the caller's, from
//! the mesh metadata, never a field of the message.

use latchkey_errors::{ApiError, FieldError};
use latchkey_ids::{ApprovalId, DecisionId, IdError, PolicyId};
use latchkey_proto::policy::v1::{self as pb, policy_service_server::PolicyService};
use latchkey_server::Caller;
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::{
    AgentFacts, Approval, Enforcement, EvaluationRequest, Outcome, Policy, PolicyError, PolicySettings, StoredPolicy,
    engine::{DEFAULT_PRIORITY, Effect, PolicyInput, PolicyPatch, Rule, ThrottlePer},
    rules_json::{parse_rules, rules_to_json},
};

pub(crate) struct GrpcApi {
    service: Policy,
}

impl GrpcApi {
    pub(crate) fn new(service: Policy) -> Self {
        Self { service }
    }
}

/// The rules a message carries; an empty text reads as no rules, which validation then names.
fn rules_of(json: &str) -> Result<Vec<Rule>, Status> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    parse_rules(json).map_err(|error| PolicyError::Invalid(ApiError::validation(vec![error])).into())
}

/// The id of the record a message looks up. Text that is no id of its kind (another kind's id, a
/// wildcard, a dot, an overlong string) names no record: it is answered with `missing`, exactly as
/// an unknown id is, so callers cannot tell a malformed id from an absent one.
fn id_to_look_up<I>(text: &str, missing: PolicyError) -> Result<I, Status>
where
    I: std::str::FromStr<Err = IdError>,
{
    text.parse().map_err(|_| missing.into())
}

/// The issue's decision id, which a held request is filed under. Not looked up, so a bad one is the
/// caller's validation error.
fn decision_id_of(text: &str) -> Result<DecisionId, Status> {
    text.parse().map_err(|error: IdError| {
        PolicyError::Invalid(ApiError::validation(vec![FieldError::new(
            "decision_id",
            error.to_string(),
        )]))
        .into()
    })
}

fn policy_to_pb(policy: StoredPolicy) -> pb::Policy {
    let d = policy.definition;
    pb::Policy {
        id: policy.id.into_string(),
        rules_json: rules_to_json(&d.rules),
        name: d.name,
        description: d.description.unwrap_or_default(),
        priority: d.priority,
        is_active: d.is_active,
        created_at_ms: policy.created_at_ms,
        updated_at_ms: policy.updated_at_ms,
    }
}

fn approval_to_pb(approval: Approval) -> pb::Approval {
    pb::Approval {
        id: approval.id.into_string(),
        status: approval.status.as_str().to_owned(),
        agent_id: approval.agent_id.into_string(),
        scope: approval.scope,
        target_service: approval.target_service,
        ttl: approval.ttl,
        intent: approval.intent.unwrap_or_default(),
        policy_id: approval.policy_id.into_string(),
        policy_name: approval.policy_name,
        rule_index: approval.rule_index,
        decision_id: approval.decision_id.into_string(),
        requested_by: approval.requested_by.unwrap_or_default(),
        requested_at_ms: approval.requested_at_ms,
        expires_at_ms: approval.expires_at_ms,
        decided_at_ms: approval.decided_at_ms.unwrap_or_default(),
        decided_by: approval.decided_by.unwrap_or_default(),
        note: approval.note.unwrap_or_default(),
        redeemed_at_ms: approval.redeemed_at_ms.unwrap_or_default(),
    }
}

fn settings_to_pb(settings: PolicySettings) -> pb::PolicySettings {
    pb::PolicySettings {
        default_effect: settings.default_effect.as_str().to_owned(),
        updated_at_ms: settings.updated_at_ms,
    }
}

#[tonic::async_trait]
impl PolicyService for GrpcApi {
    async fn describe(&self, _request: Request<pb::DescribeRequest>) -> Result<Response<pb::DescribeResponse>, Status> {
        Ok(Response::new(pb::DescribeResponse {
            service: "policy".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn create_policy(&self, request: Request<pb::CreatePolicyRequest>) -> Result<Response<pb::Policy>, Status> {
        let Caller { account, actor } = self.service.mesh.caller(&request)?;
        let plan = latchkey_server::plan_of(&request);
        let m = request.into_inner();
        let input = PolicyInput {
            name: m.name,
            description: m.description,
            priority: m.priority.unwrap_or(DEFAULT_PRIORITY),
            rules: rules_of(&m.rules_json)?,
            is_active: m.is_active.unwrap_or(true),
        };
        let policy = self
            .service
            .create_policy_on_plan(&account, plan.as_deref(), actor.as_deref(), input)
            .await?;
        Ok(Response::new(policy_to_pb(policy)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn list_policies(
        &self,
        request: Request<pb::ListPoliciesRequest>,
    ) -> Result<Response<pb::ListPoliciesResponse>, Status> {
        let account = self.service.mesh.caller(&request)?.account;
        let policies = self.service.list_policies(&account).await?;
        Ok(Response::new(pb::ListPoliciesResponse {
            policies: policies.into_iter().map(policy_to_pb).collect(),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn get_policy(&self, request: Request<pb::GetPolicyRequest>) -> Result<Response<pb::Policy>, Status> {
        let account = self.service.mesh.caller(&request)?.account;
        let id: PolicyId = id_to_look_up(&request.get_ref().id, PolicyError::PolicyNotFound)?;
        let policy = self.service.get_policy(&account, &id).await?;
        Ok(Response::new(policy_to_pb(policy)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn update_policy(&self, request: Request<pb::UpdatePolicyRequest>) -> Result<Response<pb::Policy>, Status> {
        let Caller { account, actor } = self.service.mesh.caller(&request)?;
        let m = request.into_inner();
        let description = if m.clear_description {
            Some(None)
        } else {
            m.description.map(Some)
        };
        let patch = PolicyPatch {
            name: m.name,
            description,
            priority: m.priority,
            rules: m.rules_json.as_deref().map(rules_of).transpose()?,
            is_active: m.is_active,
        };
        // After the rules: unreadable rules were always answered before a missing policy.
        let id: PolicyId = id_to_look_up(&m.id, PolicyError::PolicyNotFound)?;
        let policy = self
            .service
            .update_policy(&account, actor.as_deref(), &id, patch)
            .await?;
        Ok(Response::new(policy_to_pb(policy)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn evaluate(&self, request: Request<pb::EvaluateRequest>) -> Result<Response<pb::EvaluateResponse>, Status> {
        let account = self.service.mesh.caller(&request)?.account;
        let m = request.into_inner();
        let present = |value: String| (!value.is_empty()).then_some(value);
        let enforce = if m.enforce {
            Some(Enforcement {
                decision_id: decision_id_of(&m.decision_id)?,
                approval_id: present(m.approval_id)
                    .map(|id| id_to_look_up::<ApprovalId>(&id, PolicyError::ApprovalNotFound))
                    .transpose()?,
                ttl: m.ttl,
                intent: present(m.intent),
                requested_by: present(m.requested_by),
            })
        } else {
            None
        };
        let evaluation_request = EvaluationRequest {
            agent_id: m.agent_id,
            scope: m.scope,
            target_service: present(m.target_service),
            agent: m.agent.map(|agent| AgentFacts {
                owner: agent.owner,
                model_provider: present(agent.model_provider),
                framework: present(agent.framework),
                status: agent.status,
            }),
            enforce,
        };
        let evaluation = self.service.evaluate(&account, evaluation_request).await?;
        let decision = evaluation.decision;
        let mut response = pb::EvaluateResponse {
            effect: decision.effect.name().to_owned(),
            rule_index: decision.rule_index.and_then(|index| u32::try_from(index).ok()),
            would_issue: evaluation.would_issue,
            ..Default::default()
        };
        if let Some((key, limit, window_secs)) = decision.throttle_key() {
            response.throttle_key = key;
            response.throttle_limit = limit;
            response.throttle_window_secs = window_secs;
        }
        if let Effect::Throttle { per, .. } = decision.effect {
            response.throttle_per = match per {
                ThrottlePer::Agent => "agent",
                ThrottlePer::Policy => "policy",
            }
            .to_owned();
        }
        response.policy_id = decision.policy_id.unwrap_or_default();
        response.policy_name = decision.policy_name.unwrap_or_default();
        response.reason = decision.reason;
        match evaluation.outcome {
            Outcome::Decided | Outcome::Charged => {}
            Outcome::Throttled { retry_after_secs } => {
                response.throttled = true;
                response.retry_after_secs = retry_after_secs;
            }
            Outcome::Held {
                approval_id,
                expires_at_ms,
            } => {
                response.approval_id = approval_id.into_string();
                response.approval_expires_at_ms = expires_at_ms;
            }
            Outcome::Redeemed {
                approval_id,
                ttl,
                intent,
            } => {
                response.approval_id = approval_id.into_string();
                response.redeemed = true;
                response.redeemed_ttl = ttl;
                response.redeemed_intent = intent.unwrap_or_default();
            }
        }
        Ok(Response::new(response))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn get_settings(
        &self,
        request: Request<pb::GetSettingsRequest>,
    ) -> Result<Response<pb::PolicySettings>, Status> {
        let account = self.service.mesh.caller(&request)?.account;
        let settings = self.service.settings(&account).await?;
        Ok(Response::new(settings_to_pb(settings)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn update_settings(
        &self,
        request: Request<pb::UpdateSettingsRequest>,
    ) -> Result<Response<pb::PolicySettings>, Status> {
        let Caller { account, actor } = self.service.mesh.caller(&request)?;
        let settings = self
            .service
            .update_settings(&account, actor.as_deref(), &request.get_ref().default_effect)
            .await?;
        Ok(Response::new(settings_to_pb(settings)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn list_approvals(
        &self,
        request: Request<pb::ListApprovalsRequest>,
    ) -> Result<Response<pb::ListApprovalsResponse>, Status> {
        let account = self.service.mesh.caller(&request)?.account;
        let m = request.into_inner();
        let page = self
            .service
            .list_approvals(&account, Some(m.status.as_str()), m.limit, m.offset)
            .await?;
        Ok(Response::new(pb::ListApprovalsResponse {
            approvals: page.approvals.into_iter().map(approval_to_pb).collect(),
            total: page.total,
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn get_approval(&self, request: Request<pb::GetApprovalRequest>) -> Result<Response<pb::Approval>, Status> {
        let account = self.service.mesh.caller(&request)?.account;
        let id: ApprovalId = id_to_look_up(&request.get_ref().id, PolicyError::ApprovalNotFound)?;
        let approval = self.service.get_approval(&account, &id).await?;
        Ok(Response::new(approval_to_pb(approval)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn decide_approval(
        &self,
        request: Request<pb::DecideApprovalRequest>,
    ) -> Result<Response<pb::Approval>, Status> {
        let Caller { account, actor } = self.service.mesh.caller(&request)?;
        let m = request.into_inner();
        let note = Some(m.note).filter(|n| !n.is_empty());
        let id: ApprovalId = id_to_look_up(&m.id, PolicyError::ApprovalNotFound)?;
        let approval = self
            .service
            .decide_approval(&account, actor.as_deref(), &id, m.approve, note)
            .await?;
        Ok(Response::new(approval_to_pb(approval)))
    }
    #[instrument(skip_all, err(level = "debug"))]
    async fn count_usage(
        &self,
        request: Request<pb::CountUsageRequest>,
    ) -> Result<Response<pb::CountUsageResponse>, Status> {
        let count = latchkey_server::plans::count_for_caller(
            &self.service.mesh,
            &self.service.db,
            &request,
            crate::policies::COUNT_POLICIES,
            "policy",
        )
        .await?;
        Ok(Response::new(pb::CountUsageResponse { count }))
    }
}
