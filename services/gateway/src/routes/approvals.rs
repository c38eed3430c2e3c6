//! `/v1/approvals`: token requests a `require_approval` rule held, through the policy service. A
//! person lists and reads them, approves or denies each once; the approved request then yields its
//! token once, when the client repeats `POST /v1/tokens` with the `approval_id`.

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use latchkey_errors::{ApiError, FieldError};
use latchkey_ids::ApprovalId;
use latchkey_proto::policy::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    id_path::IdPath, openapi::responses as r, principal::Principal, problem::Problem, query::ValidQuery,
    routes::time_from_ms, state::AppState,
};

/// A held token request.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalBody {
    #[schema(example = "apr_a1b2c3d4e5f6g7h8")]
    pub id: String,
    /// `pending`, `approved`, `denied` or `expired` (nobody decided in time).
    #[schema(example = "pending")]
    pub status: String,
    pub agent_id: String,
    pub scope: Vec<String>,
    /// The token's audience, or `any`.
    pub target_service: String,
    /// The lifetime asked for, seconds.
    pub ttl: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    /// The policy and rule that held the request.
    pub policy_id: String,
    pub policy_name: String,
    pub rule_index: u32,
    /// The held request's decision id (in the `approval.requested` audit entry).
    pub decision_id: String,
    /// Who asked: the API key id or the agent id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    pub requested_at: DateTime<Utc>,
    /// A pending approval expires then; an approved one can yield its token until then.
    pub expires_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
    /// The API key that decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Whether the approved request already yielded its token (it does so once).
    pub token_issued: bool,
}

/// Which approvals to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApprovalsQuery {
    /// Only approvals in this status; all when absent.
    #[param(value_type = Option<ApprovalStatus>, inline)]
    pub status: Option<String>,
    /// Max results per page, 1 to 100. Default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Pagination offset. Default 0.
    #[param(format = Int64, minimum = 0, maximum = 4294967295.0)]
    pub offset: Option<u32>,
}

/// An approval's status (`expired`: nobody decided in time). For the OpenAPI document only: the
/// policy service checks the filter.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code, reason = "never constructed: only its derived OpenAPI schema is used")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Denied,
    Expired,
}

/// A page of approvals, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalPage {
    pub data: Vec<ApprovalBody>,
    /// How many approvals match the filter in all.
    pub total: u64,
    pub limit: u32,
    pub offset: u32,
}

fn present(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

fn approval_body(approval: pb::Approval) -> Result<ApprovalBody, Problem> {
    let id = approval.id.clone();
    let time = |ms: i64| {
        time_from_ms(ms).ok_or_else(|| Problem::internal(&format_args!("approval {id} has an invalid timestamp")))
    };
    Ok(ApprovalBody {
        requested_at: time(approval.requested_at_ms)?,
        expires_at: time(approval.expires_at_ms)?,
        decided_at: time_from_ms(approval.decided_at_ms),
        token_issued: approval.redeemed_at_ms != 0,
        id: approval.id,
        status: approval.status,
        agent_id: approval.agent_id,
        scope: approval.scope,
        target_service: approval.target_service,
        ttl: approval.ttl,
        intent: present(approval.intent),
        policy_id: approval.policy_id,
        policy_name: approval.policy_name,
        rule_index: approval.rule_index,
        decision_id: approval.decision_id,
        requested_by: present(approval.requested_by),
        decided_by: present(approval.decided_by),
        note: present(approval.note),
    })
}

/// List approvals
#[utoipa::path(
    get,
    path = "/v1/approvals",
    tag = "approvals",
    params(ApprovalsQuery),
    responses(
        (status = 200, description = "A page of approvals, newest first", body = ApprovalPage),
        (status = 400, response = r::BadRequest),
        r::Authenticated,
    )
)]
pub(crate) async fn list_approvals(
    State(state): State<AppState>,
    principal: Principal,
    ValidQuery(query): ValidQuery<ApprovalsQuery>,
) -> Result<Json<ApprovalPage>, Problem> {
    let limit = query.limit.unwrap_or(20);
    let offset = query.offset.unwrap_or(0);
    if !(1..=100).contains(&limit) {
        let error = FieldError::new("limit", "must be between 1 and 100");
        return Err(Problem(ApiError::validation(vec![error])));
    }
    let request = principal.grpc_request(pb::ListApprovalsRequest {
        status: query.status.unwrap_or_default(),
        limit,
        offset,
    });
    let page = state.policy.clone().list_approvals(request).await?.into_inner();
    let data = page
        .approvals
        .into_iter()
        .map(approval_body)
        .collect::<Result<_, _>>()?;
    Ok(Json(ApprovalPage {
        data,
        total: page.total,
        limit,
        offset,
    }))
}

/// Get an approval
#[utoipa::path(
    get,
    path = "/v1/approvals/{id}",
    tag = "approvals",
    params(("id" = String, Path, description = "The approval's id, `apr_…`")),
    responses(
        (status = 200, description = "The approval", body = ApprovalBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn get_approval(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath<ApprovalId>,
) -> Result<Json<ApprovalBody>, Problem> {
    let request = principal.grpc_request(pb::GetApprovalRequest { id: id.into_string() });
    let approval = state.policy.clone().get_approval(request).await?.into_inner();
    Ok(Json(approval_body(approval)?))
}

async fn decide(
    state: AppState,
    principal: Principal,
    id: ApprovalId,
    approve: bool,
) -> Result<Json<ApprovalBody>, Problem> {
    let request = principal.grpc_request(pb::DecideApprovalRequest {
        id: id.into_string(),
        approve,
        note: String::new(),
    });
    let approval = state.policy.clone().decide_approval(request).await?.into_inner();
    Ok(Json(approval_body(approval)?))
}

/// Approve a held token request
///
/// The request can then yield its token once: repeat `POST /v1/tokens` with this `approval_id`.
/// Only a pending approval can be approved (422 otherwise).
#[utoipa::path(
    post,
    path = "/v1/approvals/{id}/approve",
    tag = "approvals",
    params(("id" = String, Path, description = "The approval's id, `apr_…`")),
    responses(
        (status = 200, description = "The approved approval", body = ApprovalBody),
        (status = 404, response = r::NotFound),
        (status = 422, response = r::Unprocessable),
        r::Authenticated,
    )
)]
pub(crate) async fn approve_approval(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath<ApprovalId>,
) -> Result<Json<ApprovalBody>, Problem> {
    decide(state, principal, id, true).await
}

/// Deny a held token request
///
/// The request never yields a token. Only a pending approval can be denied (422 otherwise).
#[utoipa::path(
    post,
    path = "/v1/approvals/{id}/deny",
    tag = "approvals",
    params(("id" = String, Path, description = "The approval's id, `apr_…`")),
    responses(
        (status = 200, description = "The denied approval", body = ApprovalBody),
        (status = 404, response = r::NotFound),
        (status = 422, response = r::Unprocessable),
        r::Authenticated,
    )
)]
pub(crate) async fn deny_approval(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath<ApprovalId>,
) -> Result<Json<ApprovalBody>, Problem> {
    decide(state, principal, id, false).await
}
