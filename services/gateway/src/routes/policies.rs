//! `/v1/policies`: the account's policies, their dry-run evaluation and the account's policy
//! settings, through the policy service. Shapes follow the AuthRAI documentation (seed 002); rules
//! are passed through as JSON and the policy engine validates them, naming each bad field
//! (`rules[0].effect.limit`).

mod bodies;
mod schema;

use axum::{Json, extract::State, http::StatusCode};
use latchkey_ids::PolicyId;
use latchkey_proto::policy::v1 as pb;
use serde_json::Value;

use bodies::{
    CreatePolicyBody, DecisionBody, DefaultEffect, EvaluateBody, EvaluationBody, PolicyBody, PolicyList,
    PolicySettingsBody, ThrottleBody, UpdatePolicyBody, UpdatePolicySettingsBody,
};

use crate::{
    id_path::IdPath, json::ValidJson, openapi::responses as r, principal::Principal, problem::Problem,
    routes::time_from_ms, state::AppState,
};

/// The rules as JSON text for the policy service.
fn rules_json(rules: &[Value]) -> Result<String, Problem> {
    serde_json::to_string(rules).map_err(|error| Problem::internal(&error))
}

fn policy_body(policy: pb::Policy) -> Result<PolicyBody, Problem> {
    let id = policy.id.clone();
    let time = |ms: i64| {
        time_from_ms(ms).ok_or_else(|| Problem::internal(&format_args!("policy {id} has an invalid timestamp")))
    };
    let rules = serde_json::from_str(&policy.rules_json)
        .map_err(|error| Problem::internal(&format_args!("policy {id} has unreadable rules: {error}")))?;
    Ok(PolicyBody {
        created_at: time(policy.created_at_ms)?,
        updated_at: time(policy.updated_at_ms)?,
        description: Some(policy.description).filter(|d| !d.is_empty()),
        rules,
        name: policy.name,
        priority: policy.priority,
        is_active: policy.is_active,
        id: policy.id,
    })
}

fn settings_body(settings: pb::PolicySettings) -> Result<PolicySettingsBody, Problem> {
    let default_effect = match settings.default_effect.as_str() {
        "allow" => DefaultEffect::Allow,
        "deny" => DefaultEffect::Deny,
        other => return Err(Problem::internal(&format_args!("unknown default effect {other:?}"))),
    };
    Ok(PolicySettingsBody {
        default_effect,
        updated_at: time_from_ms(settings.updated_at_ms),
    })
}

/// Create a policy
///
/// Validation errors name each bad field, e.g. `rules[0].effect.limit`.
#[utoipa::path(
    post,
    path = "/v1/policies",
    tag = "policies",
    request_body(content = CreatePolicyBody, content_type = "application/json"),
    responses(
        (status = 402, response = r::PlanLimit),
        (status = 201, description = "The policy", body = PolicyBody),
        r::Authenticated,
        r::JsonBody,
    )
)]
pub(crate) async fn create_policy(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<CreatePolicyBody>,
) -> Result<(StatusCode, Json<PolicyBody>), Problem> {
    let request = principal.grpc_request(pb::CreatePolicyRequest {
        name: body.name,
        description: body.description,
        priority: body.priority,
        rules_json: rules_json(&body.rules)?,
        is_active: body.is_active,
    });
    let policy = state.policy.clone().create_policy(request).await?.into_inner();
    Ok((StatusCode::CREATED, Json(policy_body(policy)?)))
}

/// List policies
///
/// Every policy of the account, highest priority first (the order evaluation considers them).
#[utoipa::path(
    get,
    path = "/v1/policies",
    tag = "policies",
    responses(
        (status = 200, description = "The account's policies", body = PolicyList),
        r::Authenticated,
    )
)]
pub(crate) async fn list_policies(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<PolicyList>, Problem> {
    let request = principal.grpc_request(pb::ListPoliciesRequest {});
    let listed = state.policy.clone().list_policies(request).await?.into_inner();
    let data = listed.policies.into_iter().map(policy_body).collect::<Result<_, _>>()?;
    Ok(Json(PolicyList { data }))
}

/// Get a policy
#[utoipa::path(
    get,
    path = "/v1/policies/{id}",
    tag = "policies",
    params(("id" = String, Path, description = "The policy's id, `pol_…`")),
    responses(
        (status = 200, description = "The policy", body = PolicyBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn get_policy(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath<PolicyId>,
) -> Result<Json<PolicyBody>, Problem> {
    let request = principal.grpc_request(pb::GetPolicyRequest { id: id.into_string() });
    let policy = state.policy.clone().get_policy(request).await?.into_inner();
    Ok(Json(policy_body(policy)?))
}

/// Update a policy
///
/// A partial update; the result is validated like a new policy. `{"is_active": false}` deactivates
/// the policy, `{"is_active": true}` reactivates it.
#[utoipa::path(
    patch,
    path = "/v1/policies/{id}",
    tag = "policies",
    params(("id" = String, Path, description = "The policy's id, `pol_…`")),
    request_body(content = Option<UpdatePolicyBody>, content_type = "application/json",
        description = "Optional: an empty body changes no field"),
    responses(
        (status = 200, description = "The policy as it now stands", body = PolicyBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
        r::JsonBody,
    )
)]
pub(crate) async fn update_policy(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath<PolicyId>,
    ValidJson(body): ValidJson<UpdatePolicyBody>,
) -> Result<Json<PolicyBody>, Problem> {
    let rules_json = body.rules.as_deref().map(rules_json).transpose()?;
    let request = principal.grpc_request(pb::UpdatePolicyRequest {
        id: id.into_string(),
        name: body.name,
        clear_description: matches!(body.description, Some(None)),
        description: body.description.flatten(),
        priority: body.priority,
        rules_json,
        is_active: body.is_active,
    });
    let policy = state.policy.clone().update_policy(request).await?.into_inner();
    Ok(Json(policy_body(policy)?))
}

/// Evaluate a token request (dry run)
///
/// Answers what would happen to the request and which rule decided it. Nothing is issued and no
/// throttle is counted.
#[utoipa::path(
    post,
    path = "/v1/policies/evaluate",
    tag = "policies",
    request_body(content = EvaluateBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The decision", body = EvaluationBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
        r::JsonBody,
    )
)]
pub(crate) async fn evaluate_policies(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<EvaluateBody>,
) -> Result<Json<EvaluationBody>, Problem> {
    let request = principal.grpc_request(pb::EvaluateRequest {
        agent_id: body.agent_id,
        scope: body.scope,
        target_service: body.target_service.unwrap_or_default(),
        agent: None,
        // A dry run: nothing counted, nothing held.
        ..Default::default()
    });
    let answer = state.policy.clone().evaluate(request).await?.into_inner();
    let present = |value: String| (!value.is_empty()).then_some(value);
    let throttle = (answer.effect == "throttle").then(|| ThrottleBody {
        limit: answer.throttle_limit,
        window_secs: answer.throttle_window_secs,
        per: answer.throttle_per.clone(),
    });
    Ok(Json(EvaluationBody {
        effect: answer.effect,
        decision: DecisionBody {
            policy_id: present(answer.policy_id),
            policy_name: present(answer.policy_name),
            rule_index: answer.rule_index,
            reason: answer.reason,
            throttle,
        },
        would_issue: answer.would_issue,
    }))
}

/// Get the account's policy settings
#[utoipa::path(
    get,
    path = "/v1/policies/settings",
    tag = "policies",
    responses(
        (status = 200, description = "The settings", body = PolicySettingsBody),
        r::Authenticated,
    )
)]
pub(crate) async fn get_policy_settings(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<PolicySettingsBody>, Problem> {
    let request = principal.grpc_request(pb::GetSettingsRequest {});
    let settings = state.policy.clone().get_settings(request).await?.into_inner();
    Ok(Json(settings_body(settings)?))
}

/// Change the account's policy settings
///
/// `default_effect` applies when no active policy matches a request.
#[utoipa::path(
    put,
    path = "/v1/policies/settings",
    tag = "policies",
    request_body(content = UpdatePolicySettingsBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The settings as they now stand", body = PolicySettingsBody),
        r::Authenticated,
        r::JsonBody,
    )
)]
pub(crate) async fn update_policy_settings(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<UpdatePolicySettingsBody>,
) -> Result<Json<PolicySettingsBody>, Problem> {
    let default_effect = match body.default_effect {
        DefaultEffect::Allow => "allow",
        DefaultEffect::Deny => "deny",
    };
    let request = principal.grpc_request(pb::UpdateSettingsRequest {
        default_effect: default_effect.to_owned(),
    });
    let settings = state.policy.clone().update_settings(request).await?.into_inner();
    Ok(Json(settings_body(settings)?))
}
