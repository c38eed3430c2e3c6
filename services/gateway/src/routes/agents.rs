//! `/v1/agents`: agent identities, through agent-token. Shapes follow the AuthRAI documentation
//! (seed 002): `id` and `secret_key` come back once at creation; lists page with limit/offset.

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use latchkey_ids::AgentId;
use latchkey_proto::agent_token::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    id_path::IdPath, json::ValidJson, openapi::responses as r, principal::Principal, problem::Problem,
    query::ValidQuery, routes::time_from_ms, state::AppState,
};

/// A new agent. Every field is trimmed; the short ones may not contain control characters.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgentBody {
    /// Human-readable name, 1 to 100 characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        example = "data-processor"
    )]
    pub name: String,
    /// The team or service that owns the agent, 1 to 100 characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        example = "engineering"
    )]
    pub owner: String,
    /// Up to 1000 characters.
    #[schema(max_length = 1000)]
    pub description: Option<String>,
    /// e.g. `openai`, `anthropic`; up to 100 characters.
    #[schema(max_length = 100, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub model_provider: Option<String>,
    /// e.g. `gpt-4`, `claude-3`; up to 100 characters.
    #[schema(max_length = 100, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub model_name: Option<String>,
    /// e.g. `langchain`, `autogen`; up to 100 characters.
    #[schema(max_length = 100, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub framework: Option<String>,
}

/// An agent.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentBody {
    #[schema(example = "agent_a1b2c3d4e5f6g7h8")]
    pub id: String,
    pub name: String,
    pub owner: String,
    /// True when `owner` is an email address or domain name on one of the account's verified
    /// domains (`/v1/domains`), or under one. A flag only: no owner is refused for it.
    pub owner_verified: bool,
    pub description: Option<String>,
    pub model_provider: Option<String>,
    pub model_name: Option<String>,
    pub framework: Option<String>,
    /// `active`, `paused` or `revoked`.
    #[schema(example = "active")]
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the agent was revoked; `null` unless it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An agent just created, with its secret key: shown this once, never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedAgentBody {
    #[serde(flatten)]
    pub agent: AgentBody,
    /// The agent's own key for requesting tokens (`sk_live_…`). Latchkey keeps only a hash.
    #[schema(example = "sk_live_xK9mNp2qRsT4uVwX6yZ8aB0cD2eF4gH6")]
    pub secret_key: String,
}

/// Which agents to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AgentsQuery {
    /// Max results per page, 1 to 100. Default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Pagination offset. Default 0.
    #[param(format = Int64, minimum = 0, maximum = 4294967295.0)]
    pub offset: Option<u32>,
    /// Filter by status. Default: every status.
    #[param(value_type = Option<AgentStatus>, inline)]
    pub status: Option<String>,
}

/// An agent's status. For the OpenAPI document only: the service checks the filter.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code, reason = "never constructed: only its derived OpenAPI schema is used")]
pub enum AgentStatus {
    Active,
    Paused,
    Revoked,
}

/// A page of agents.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentPage {
    pub data: Vec<AgentBody>,
    /// How many agents match the filter in all.
    pub total: u64,
    pub limit: u32,
    pub offset: u32,
}

fn present(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

fn agent_body(agent: pb::Agent) -> Result<AgentBody, Problem> {
    let time = |ms: i64| {
        time_from_ms(ms).ok_or_else(|| Problem::internal(&format_args!("agent {} has an invalid timestamp", agent.id)))
    };
    Ok(AgentBody {
        created_at: time(agent.created_at_ms)?,
        updated_at: time(agent.updated_at_ms)?,
        revoked_at: time_from_ms(agent.revoked_at_ms),
        description: present(agent.description),
        model_provider: present(agent.model_provider),
        model_name: present(agent.model_name),
        framework: present(agent.framework),
        status: agent.status,
        name: agent.name,
        owner: agent.owner,
        owner_verified: agent.owner_verified,
        id: agent.id,
    })
}

/// Create an agent
///
/// Returns the agent's secret key, once.
#[utoipa::path(
    post,
    path = "/v1/agents",
    tag = "agents",
    request_body(content = CreateAgentBody, content_type = "application/json"),
    responses(
        (status = 402, response = r::PlanLimit),
        (status = 201, description = "The agent, with its secret key shown only now", body = CreatedAgentBody,
            links(
                ("IssueToken" = (operation_id = "issue_token", request_body = json!({"agent_id": "$response.body#/id"}),
                    description = "A token for the new agent")),
                ("EvaluateTokenRequest" = (operation_id = "evaluate_policies",
                    request_body = json!({"agent_id": "$response.body#/id"}),
                    description = "What the policies would decide for the new agent")),
            )),
        r::Authenticated,
        r::JsonBody,
    )
)]
pub(crate) async fn create_agent(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<CreateAgentBody>,
) -> Result<(StatusCode, Json<CreatedAgentBody>), Problem> {
    let request = principal.grpc_request(pb::CreateAgentRequest {
        name: body.name,
        owner: body.owner,
        description: body.description.unwrap_or_default(),
        model_provider: body.model_provider.unwrap_or_default(),
        model_name: body.model_name.unwrap_or_default(),
        framework: body.framework.unwrap_or_default(),
    });
    let created = state.agent_token.clone().create_agent(request).await?.into_inner();
    let agent = created
        .agent
        .ok_or_else(|| Problem::internal(&"agent-token answered CreateAgent without the agent"))?;
    let body = CreatedAgentBody {
        agent: agent_body(agent)?,
        secret_key: created.secret_key,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// List agents
#[utoipa::path(
    get,
    path = "/v1/agents",
    tag = "agents",
    params(AgentsQuery),
    responses(
        (status = 200, description = "A page of agents, oldest first", body = AgentPage),
        (status = 400, response = r::BadRequest),
        r::Authenticated,
    )
)]
pub(crate) async fn list_agents(
    State(state): State<AppState>,
    principal: Principal,
    ValidQuery(query): ValidQuery<AgentsQuery>,
) -> Result<Json<AgentPage>, Problem> {
    let limit = query.limit.unwrap_or(20);
    let offset = query.offset.unwrap_or(0);
    if limit == 0 {
        let error = latchkey_errors::FieldError::new("limit", "must be between 1 and 100");
        return Err(Problem(latchkey_errors::ApiError::validation(vec![error])));
    }
    let request = principal.grpc_request(pb::ListAgentsRequest {
        limit,
        offset,
        status: query.status.unwrap_or_default(),
    });
    let page = state.agent_token.clone().list_agents(request).await?.into_inner();
    let data = page.agents.into_iter().map(agent_body).collect::<Result<_, _>>()?;
    Ok(Json(AgentPage {
        data,
        total: page.total,
        limit,
        offset,
    }))
}

/// Get an agent
#[utoipa::path(
    get,
    path = "/v1/agents/{id}",
    tag = "agents",
    params(("id" = String, Path, description = "The agent's id, `agent_…`")),
    responses(
        (status = 200, description = "The agent", body = AgentBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn get_agent(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath<AgentId>,
) -> Result<Json<AgentBody>, Problem> {
    let request = principal.grpc_request(pb::GetAgentRequest { id: id.into_string() });
    let agent = state.agent_token.clone().get_agent(request).await?.into_inner();
    Ok(Json(agent_body(agent)?))
}

async fn change_status(
    state: AppState,
    principal: Principal,
    id: AgentId,
    action: pb::AgentAction,
) -> Result<Json<AgentBody>, Problem> {
    let request = principal.grpc_request(pb::ChangeAgentStatusRequest {
        id: id.into_string(),
        action: action as i32,
    });
    let agent = state
        .agent_token
        .clone()
        .change_agent_status(request)
        .await?
        .into_inner();
    Ok(Json(agent_body(agent)?))
}

macro_rules! status_route {
    ($(#[$doc:meta])* $name:ident, $method:ident, $path:literal, $action:expr) => {
        $(#[$doc])*
        #[utoipa::path(
            $method,
            path = $path,
            tag = "agents",
            params(("id" = String, Path, description = "The agent's id, `agent_…`")),
            responses(
                (status = 200, description = "The agent as it now stands", body = AgentBody),
                (status = 404, response = r::NotFound),
                (status = 422, response = r::Unprocessable),
                r::Authenticated,
            )
        )]
        pub(crate) async fn $name(
            State(state): State<AppState>,
            principal: Principal,
            IdPath(id): IdPath<AgentId>,
        ) -> Result<Json<AgentBody>, Problem> {
            change_status(state, principal, id, $action).await
        }
    };
}

status_route!(
    /// Pause an agent
    ///
    /// A paused agent gets no new tokens until resumed. Pausing a paused agent changes nothing.
    pause_agent, post, "/v1/agents/{id}/pause", pb::AgentAction::Pause
);
status_route!(
    /// Resume a paused agent
    resume_agent, post, "/v1/agents/{id}/resume", pb::AgentAction::Resume
);
status_route!(
    /// Revoke an agent
    ///
    /// Permanent: every active token of the agent is invalidated immediately, everywhere.
    revoke_agent, post, "/v1/agents/{id}/revoke", pb::AgentAction::Revoke
);
status_route!(
    /// Revoke an agent (DELETE form)
    ///
    /// The same as `POST /v1/agents/{id}/revoke`.
    revoke_agent_by_delete, delete, "/v1/agents/{id}/revoke", pb::AgentAction::Revoke
);
