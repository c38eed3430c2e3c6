//! `GET /v1/usage`: the account's plan, its limits and its usage of each limited resource. The plan
//! and its limits come from agent-token (which keeps each account's plan); each count from the
//! service that owns what is counted, asked at once.

use axum::{Json, extract::State};
use latchkey_proto::{
    agent_token::v1 as at, directory::v1 as di, oauth::v1 as oa, policy::v1 as po, webhook::v1 as wh,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{openapi::responses as r, principal::Principal, problem::Problem, state::AppState};

/// A plan's limit of each resource; `null` is unlimited.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct LimitsBody {
    pub agents: Option<u64>,
    pub api_keys: Option<u64>,
    pub policies: Option<u64>,
    pub webhooks: Option<u64>,
    pub connections: Option<u64>,
    pub certificates: Option<u64>,
    pub domains: Option<u64>,
    pub tokens_per_month: Option<u64>,
    pub service_users: Option<u64>,
}

/// How much of each the account has. `tokens_per_month` counts this calendar month (UTC), and is
/// `null` while no plan of the deployment limits it (tokens are then not counted).
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageCountsBody {
    pub agents: u64,
    pub api_keys: u64,
    /// Certificates that are not revoked (an expired one counts until it is revoked).
    pub certificates: u64,
    pub domains: u64,
    pub policies: u64,
    pub webhooks: u64,
    pub connections: u64,
    pub tokens_per_month: Option<u64>,
    /// Users of all the account's services (the directory's).
    pub service_users: u64,
}

/// The account's plan, its limits and its usage.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageBody {
    #[schema(example = "self-hosted")]
    pub plan: String,
    pub limits: LimitsBody,
    pub usage: UsageCountsBody,
}

/// The account's plan, limits and usage
///
/// A create that would pass a limit is answered `402 PLAN_LIMIT` naming the plan, the resource,
/// the limit and the usage.
#[utoipa::path(
    get,
    path = "/v1/usage",
    tag = "usage",
    responses(
        (status = 200, description = "The plan, its limits and the account's usage", body = UsageBody),
        r::Authenticated,
    )
)]
pub(crate) async fn get_usage(State(state): State<AppState>, principal: Principal) -> Result<Json<UsageBody>, Problem> {
    let (plan, policies, webhooks, connections, service_users) = tokio::try_join!(
        async {
            let request = principal.grpc_request(at::GetUsageRequest {});
            Ok::<_, Problem>(state.agent_token.clone().get_usage(request).await?.into_inner())
        },
        async {
            let request = principal.grpc_request(po::CountUsageRequest {});
            Ok(state.policy.clone().count_usage(request).await?.into_inner().count)
        },
        async {
            let request = principal.grpc_request(wh::CountUsageRequest {});
            Ok(state.webhook.clone().count_usage(request).await?.into_inner().count)
        },
        async {
            let request = principal.grpc_request(oa::CountUsageRequest {});
            Ok(state.oauth.clone().count_usage(request).await?.into_inner().count)
        },
        async {
            let request = principal.grpc_request(di::CountUsageRequest {});
            Ok(state
                .directory
                .clone()
                .count_usage(request)
                .await?
                .into_inner()
                .service_users)
        },
    )?;
    let limits = plan.limits.map_or_else(LimitsBody::default, |limits| LimitsBody {
        agents: limits.agents,
        api_keys: limits.api_keys,
        policies: limits.policies,
        webhooks: limits.webhooks,
        connections: limits.connections,
        certificates: limits.certificates,
        domains: limits.domains,
        tokens_per_month: limits.tokens_per_month,
        service_users: limits.service_users,
    });
    Ok(Json(UsageBody {
        plan: plan.plan,
        limits,
        usage: UsageCountsBody {
            agents: plan.agents,
            api_keys: plan.api_keys,
            certificates: plan.certificates,
            domains: plan.domains,
            policies,
            webhooks,
            connections,
            tokens_per_month: plan.tokens_this_month,
            service_users,
        },
    }))
}
