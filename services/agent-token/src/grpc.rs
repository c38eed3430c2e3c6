//! The gRPC face of the service: unpack, find out who is calling, call the domain, convert back.
//! Callers are either mesh services (service token + the account they act for) or clients holding
//! an account API key (`authorization: Bearer lk_live_…`) or a JWT signed with one of the account's
//! certificates (`authorization: Bearer eyJ…`, see `certificates::jwt`).

use latchkey_ids::{AccountId, IdError};
use latchkey_proto::agent_token::v1::{self as pb, agent_token_service_server::AgentTokenService};
use latchkey_server::{Caller, InfraError};
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::{
    Agent, AgentAction, AgentStatus, AgentToken, AgentTokenError, ApiKey, CreatedApiKey, Delegation, IssueOutcome,
    IssuedToken, NewAgent, PlanMove, Principal, Requester, TokenRequest, console_sessions, tokens::Requirements,
};

/// The most tokens one verification request may carry (AuthRAI: 100).
const MAX_BATCH: usize = 100;

/// How long a rotated-in key is published before it signs, unless the caller says otherwise: longer
/// than the JWKS `max-age` (300 s), so caches hold the key before its first token arrives.
const DEFAULT_PUBLISH_LEAD_SECS: i64 = 600;

pub(crate) struct GrpcApi {
    service: AgentToken,
}

impl GrpcApi {
    pub(crate) fn new(service: AgentToken) -> Self {
        Self { service }
    }

    pub(crate) fn service(&self) -> &AgentToken {
        &self.service
    }

    /// The account the call acts in, and who acts.
    /// Mesh callers name it in metadata ([`MeshAuth::caller`](latchkey_server::MeshAuth::caller));
    /// other callers present an account API key or a certificate JWT, which then is the actor.
    pub(crate) async fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        if self.service.mesh.is_mesh_call(request) {
            return self.service.mesh.caller(request);
        }
        let secret = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(AgentTokenError::Unauthenticated)?;
        if crate::certificates::looks_like_jwt(secret.trim()) {
            let principal = self.service.authenticate_certificate_jwt(secret.trim()).await?;
            return Ok(Caller {
                account: principal.account_id,
                actor: Some(principal.certificate_id.into_string()),
            });
        }
        let principal = self.service.authenticate_api_key(secret.trim()).await?;
        Ok(Caller {
            account: principal.account_id,
            actor: Some(principal.api_key_id.into_string()),
        })
    }

    pub(crate) fn require_mesh<T>(&self, request: &Request<T>) -> Result<(), Status> {
        if self.service.mesh.is_mesh_call(request) {
            Ok(())
        } else {
            Err(AgentTokenError::Unauthenticated.into())
        }
    }
}

/// The id in a request field that names something to look up. Text that is not an id of its kind
/// names nothing this service holds, so it gets the very answer an unknown id gets (`unknown`, e.g.
/// `NOT_FOUND`), and nothing malformed reaches a query.
pub(crate) fn lookup_id<T>(text: String, unknown: AgentTokenError) -> Result<T, Status>
where
    T: TryFrom<String, Error = IdError>,
{
    T::try_from(text).map_err(|_| unknown.into())
}

fn api_key_to_pb(key: ApiKey) -> pb::ApiKey {
    pb::ApiKey {
        id: key.id.into_string(),
        name: key.name,
        prefix: key.prefix,
        last4: key.last4,
        created_at_ms: key.created_at_ms,
        last_used_at_ms: key.last_used_at_ms.unwrap_or_default(),
    }
}

fn created_to_pb(created: CreatedApiKey) -> pb::CreatedApiKey {
    pb::CreatedApiKey {
        key: Some(api_key_to_pb(created.key)),
        secret: created.secret,
    }
}

fn agent_to_pb(agent: Agent) -> pb::Agent {
    pb::Agent {
        id: agent.id.into_string(),
        name: agent.name,
        owner: agent.owner,
        description: agent.description,
        model_provider: agent.model_provider,
        model_name: agent.model_name,
        framework: agent.framework,
        status: agent.status.as_str().to_owned(),
        created_at_ms: agent.created_at_ms,
        updated_at_ms: agent.updated_at_ms,
        revoked_at_ms: agent.revoked_at_ms,
        owner_verified: agent.owner_verified,
    }
}

/// A token, or a request held for approval (token empty, approval id set).
fn outcome_to_pb(outcome: IssueOutcome) -> pb::IssueTokenResponse {
    match outcome {
        IssueOutcome::Issued(issued) => issued_to_pb(issued),
        IssueOutcome::Held(held) => pb::IssueTokenResponse {
            agent_id: held.agent_id.into_string(),
            scope: held.scope,
            audience: held.audience,
            decision_id: held.decision_id.into_string(),
            approval_id: held.approval_id.into_string(),
            approval_expires_at_ms: held.expires_at_ms,
            ..Default::default()
        },
    }
}

fn issued_to_pb(issued: IssuedToken) -> pb::IssueTokenResponse {
    pb::IssueTokenResponse {
        token: issued.token,
        agent_id: issued.claims.sub,
        scope: issued.claims.scope,
        expires_at: issued.claims.exp,
        jti: issued.claims.jti,
        audience: issued.claims.aud,
        decision_id: issued.decision_id.into_string(),
        approval_id: String::new(),
        approval_expires_at_ms: 0,
    }
}

fn invalid_field(field: &str, message: &str) -> Status {
    AgentTokenError::Invalid(latchkey_errors::ApiError::validation(vec![
        latchkey_errors::FieldError::new(field, message),
    ]))
    .into()
}

#[tonic::async_trait]
impl AgentTokenService for GrpcApi {
    #[instrument(skip_all, err(level = "debug"))]
    async fn issue_token(
        &self,
        request: Request<pb::IssueTokenRequest>,
    ) -> Result<Response<pb::IssueTokenResponse>, Status> {
        let (account, requester) = if request.get_ref().agent_secret.is_empty() {
            let Caller { account, actor } = self.caller(&request).await?;
            (account, Requester::Account { api_key_id: actor })
        } else {
            let (account, agent) = self.service.authenticate_agent(&request.get_ref().agent_secret).await?;
            (account, Requester::Agent { agent_id: agent.id })
        };
        let m = request.into_inner();
        // None given is a missing field, which the domain reports together with the other fields'.
        let agent_id = match m.agent_id.trim() {
            "" => None,
            _ => Some(lookup_id(m.agent_id, AgentTokenError::AgentNotFound)?),
        };
        let token_request = TokenRequest {
            agent_id,
            scope: m.scope,
            ttl: m.ttl,
            target_service: Some(m.target_service),
            intent: Some(m.intent),
            approval_id: Some(m.approval_id),
        };
        let outcome = self.service.issue_token(&account, &requester, token_request).await?;
        Ok(Response::new(outcome_to_pb(outcome)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn verify_tokens(
        &self,
        request: Request<pb::VerifyTokensRequest>,
    ) -> Result<Response<pb::VerifyTokensResponse>, Status> {
        let checks = request.into_inner().checks;
        if checks.len() > MAX_BATCH {
            return Err(invalid_field("checks", "at most 100 tokens per request"));
        }
        let mut verdicts = Vec::with_capacity(checks.len());
        for check in &checks {
            let requirements = Requirements {
                audience: Some(check.audience.as_str()).filter(|a| !a.is_empty()),
                scope: &check.required_scope,
            };
            let verdict = self
                .service
                .verify_token(&check.token, &requirements)
                .ok_or_else(|| Status::from(AgentTokenError::Infra(InfraError::Unavailable("token verification"))))?;
            verdicts.push(match verdict {
                Ok(claims) => pb::TokenVerdict {
                    valid: true,
                    reason: String::new(),
                    claims_json: serde_json::to_string(&claims).unwrap_or_default(),
                },
                Err(reason) => pb::TokenVerdict {
                    valid: false,
                    reason: reason.as_str().to_owned(),
                    claims_json: String::new(),
                },
            });
        }
        Ok(Response::new(pb::VerifyTokensResponse { verdicts }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn revoke_token(
        &self,
        request: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::RevokeTokenResponse>, Status> {
        let Caller { account, actor } = self.caller(&request).await?;
        let revoked = self
            .service
            .revoke_token(&account, actor.as_deref(), &request.into_inner().token)
            .await?;
        Ok(Response::new(pb::RevokeTokenResponse {
            jti: revoked.jti,
            expires_at: revoked.expires_at,
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn delegate_token(
        &self,
        request: Request<pb::DelegateTokenRequest>,
    ) -> Result<Response<pb::IssueTokenResponse>, Status> {
        let m = request.into_inner();
        let outcome = self
            .service
            .delegate_token(Delegation {
                token: m.token,
                scope: m.scope,
                ttl: m.ttl,
                sub_agent: lookup_id(m.sub_agent, AgentTokenError::AgentNotFound)?,
                target_service: Some(m.target_service),
            })
            .await?;
        Ok(Response::new(outcome_to_pb(outcome)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn authorize_token_use(
        &self,
        request: Request<pb::AuthorizeTokenUseRequest>,
    ) -> Result<Response<pb::AuthorizedTokenUse>, Status> {
        let m = request.into_inner();
        let used = self.service.authorize_token_use(&m.token, &m.scope).await?;
        Ok(Response::new(pb::AuthorizedTokenUse {
            account_id: used.account.into_string(),
            agent_id: used.agent_id.into_string(),
            token_id: used.claims.jti,
            decision_id: used.decision_id.to_string(),
            plan: used.plan,
            token_scope: used.claims.scope,
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn get_jwks(&self, _request: Request<pb::GetJwksRequest>) -> Result<Response<pb::GetJwksResponse>, Status> {
        Ok(Response::new(pb::GetJwksResponse {
            jwks_json: self.service.jwks().to_string(),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn rotate_signing_key(
        &self,
        request: Request<pb::RotateSigningKeyRequest>,
    ) -> Result<Response<pb::RotateSigningKeyResponse>, Status> {
        self.require_mesh(&request)?;
        let lead = match request.into_inner().publish_lead_secs {
            0 => DEFAULT_PUBLISH_LEAD_SECS,
            lead if lead < 0 => return Err(invalid_field("publish_lead_secs", "must not be negative")),
            lead => lead,
        };
        let kid = self.service.rotate_signing_key(lead).await?;
        Ok(Response::new(pb::RotateSigningKeyResponse { kid }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn create_agent(
        &self,
        request: Request<pb::CreateAgentRequest>,
    ) -> Result<Response<pb::CreateAgentResponse>, Status> {
        let Caller { account, actor } = self.caller(&request).await?;
        let m = request.into_inner();
        let new = NewAgent {
            name: m.name,
            owner: m.owner,
            description: m.description,
            model_provider: m.model_provider,
            model_name: m.model_name,
            framework: m.framework,
        };
        let created = self.service.create_agent(&account, actor.as_deref(), new).await?;
        Ok(Response::new(pb::CreateAgentResponse {
            agent: Some(agent_to_pb(created.agent)),
            secret_key: created.secret_key,
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn list_agents(
        &self,
        request: Request<pb::ListAgentsRequest>,
    ) -> Result<Response<pb::ListAgentsResponse>, Status> {
        let account = self.caller(&request).await?.account;
        let m = request.into_inner();
        let status = match m.status.as_str() {
            "" => None,
            other => Some(
                AgentStatus::parse(other)
                    .ok_or_else(|| invalid_field("status", "must be active, paused or revoked"))?,
            ),
        };
        let (agents, total) = self.service.list_agents(&account, status, m.limit, m.offset).await?;
        Ok(Response::new(pb::ListAgentsResponse {
            agents: agents.into_iter().map(agent_to_pb).collect(),
            total,
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn get_agent(&self, request: Request<pb::GetAgentRequest>) -> Result<Response<pb::Agent>, Status> {
        let account = self.caller(&request).await?.account;
        let agent_id = lookup_id(request.into_inner().id, AgentTokenError::AgentNotFound)?;
        let agent = self.service.describe_agent(&account, &agent_id).await?;
        Ok(Response::new(agent_to_pb(agent)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn change_agent_status(
        &self,
        request: Request<pb::ChangeAgentStatusRequest>,
    ) -> Result<Response<pb::Agent>, Status> {
        let Caller { account, actor } = self.caller(&request).await?;
        let m = request.into_inner();
        let action = match pb::AgentAction::try_from(m.action) {
            Ok(pb::AgentAction::Pause) => AgentAction::Pause,
            Ok(pb::AgentAction::Resume) => AgentAction::Resume,
            Ok(pb::AgentAction::Revoke) => AgentAction::Revoke,
            _ => return Err(invalid_field("action", "must be pause, resume or revoke")),
        };
        let agent_id = lookup_id(m.id, AgentTokenError::AgentNotFound)?;
        let agent = self
            .service
            .change_agent_status(&account, actor.as_deref(), &agent_id, action)
            .await?;
        Ok(Response::new(agent_to_pb(agent)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn create_account(
        &self,
        request: Request<pb::CreateAccountRequest>,
    ) -> Result<Response<pb::CreateAccountResponse>, Status> {
        self.require_mesh(&request)?;
        let message = request.into_inner();
        let (account_id, created) = self.service.create_account(&message.name, &message.key_name).await?;
        Ok(Response::new(pb::CreateAccountResponse {
            account_id: account_id.into_string(),
            api_key: Some(created_to_pb(created)),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn authenticate_api_key(
        &self,
        request: Request<pb::AuthenticateApiKeyRequest>,
    ) -> Result<Response<pb::Principal>, Status> {
        self.require_mesh(&request)?;
        let Principal {
            account_id,
            api_key_id,
            plan,
        } = self.service.authenticate_api_key(&request.into_inner().secret).await?;
        Ok(Response::new(pb::Principal {
            account_id: account_id.into_string(),
            api_key_id: api_key_id.into_string(),
            plan,
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn set_account_plan(
        &self,
        request: Request<pb::SetAccountPlanRequest>,
    ) -> Result<Response<pb::SetAccountPlanResponse>, Status> {
        self.require_mesh(&request)?;
        let actor = latchkey_server::actor_of(&request);
        let message = request.into_inner();
        // An account id that does not parse names no account: answered as an unknown one.
        let account = AccountId::parse(&message.account_id).map_err(|_| AgentTokenError::AccountNotFound)?;
        let moved = self
            .service
            .set_account_plan(&account, actor.as_deref(), &message.plan)
            .await?;
        let (from_plan, event_type) = match moved {
            PlanMove::Unchanged => (message.plan.clone(), ""),
            PlanMove::Upgraded { from } => (from, "billing.plan_upgraded"),
            PlanMove::Changed { from } => (from, "billing.plan_changed"),
        };
        Ok(Response::new(pb::SetAccountPlanResponse {
            from_plan,
            to_plan: message.plan,
            event_type: event_type.to_owned(),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn get_account_plan(
        &self,
        request: Request<pb::GetAccountPlanRequest>,
    ) -> Result<Response<pb::AccountPlan>, Status> {
        // Mesh-only: an account key learns its plan from GET /v1/usage.
        let account = self.service.mesh.caller(&request)?.account;
        let plan = self.service.account_plan(&account).await?;
        Ok(Response::new(pb::AccountPlan { plan }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn get_usage(&self, request: Request<pb::GetUsageRequest>) -> Result<Response<pb::GetUsageResponse>, Status> {
        let Caller { account, .. } = self.caller(&request).await?;
        let usage = self.service.account_usage(&account).await?;
        let limits = &usage.limits;
        Ok(Response::new(pb::GetUsageResponse {
            limits: Some(pb::PlanLimits {
                agents: limits.agents,
                api_keys: limits.api_keys,
                policies: limits.policies,
                webhooks: limits.webhooks,
                connections: limits.connections,
                certificates: limits.certificates,
                domains: limits.domains,
                tokens_per_month: limits.tokens_per_month,
                service_users: limits.service_users,
            }),
            plan: usage.plan,
            agents: usage.agents,
            api_keys: usage.api_keys,
            certificates: usage.certificates,
            domains: usage.domains,
            tokens_this_month: usage.tokens_this_month,
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn start_console_session(
        &self,
        request: Request<pb::StartConsoleSessionRequest>,
    ) -> Result<Response<pb::StartedConsoleSession>, Status> {
        self.require_mesh(&request)?;
        let started = self
            .service
            .start_console_session(&request.into_inner().credential)
            .await?;
        Ok(Response::new(console_sessions::started_to_pb(started)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn resolve_console_session(
        &self,
        request: Request<pb::ResolveConsoleSessionRequest>,
    ) -> Result<Response<pb::ConsoleSession>, Status> {
        self.require_mesh(&request)?;
        let session = self
            .service
            .resolve_console_session(&request.into_inner().token)
            .await?;
        Ok(Response::new(console_sessions::session_to_pb(session)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn end_console_session(
        &self,
        request: Request<pb::EndConsoleSessionRequest>,
    ) -> Result<Response<pb::EndConsoleSessionResponse>, Status> {
        self.require_mesh(&request)?;
        let m = request.into_inner();
        let ended = self.service.end_console_session(&m.token, m.everywhere).await?;
        Ok(Response::new(pb::EndConsoleSessionResponse { ended }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        let Caller { account, actor } = self.caller(&request).await?;
        let created = self
            .service
            .create_api_key(&account, actor.as_deref(), &request.into_inner().name)
            .await?;
        Ok(Response::new(pb::CreateApiKeyResponse {
            created: Some(created_to_pb(created)),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn list_api_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        let account = self.caller(&request).await?.account;
        let keys = self.service.list_api_keys(&account).await?;
        Ok(Response::new(pb::ListApiKeysResponse {
            keys: keys.into_iter().map(api_key_to_pb).collect(),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn delete_api_key(
        &self,
        request: Request<pb::DeleteApiKeyRequest>,
    ) -> Result<Response<pb::DeleteApiKeyResponse>, Status> {
        let Caller { account, actor } = self.caller(&request).await?;
        let key_id = lookup_id(request.into_inner().id, AgentTokenError::ApiKeyNotFound)?;
        self.service.delete_api_key(&account, actor.as_deref(), &key_id).await?;
        Ok(Response::new(pb::DeleteApiKeyResponse {}))
    }
}
