//! An agent acting with its token at the gateway's own doors (MCP tools, the credential proxy).
//! agent-token decides each use (the token holds the use's scope, the agent is active, the
//! account's policies allow it) and records it as `token.used`; the gateway then acts for the
//! token's account with the agent as the actor, exactly as it would for an account credential.

use std::sync::Arc;

use latchkey_ids::AccountId;
use latchkey_proto::agent_token::v1 as pb;

use crate::{principal::Principal, problem::Problem, state::AppState};

/// The use an agent's request was authorized for: who, and the decision that allowed it. Kept in
/// the request's extensions beside the [`Principal`] it acts as.
#[derive(Clone, Debug)]
pub(crate) struct AgentUse {
    pub(crate) agent_id: Arc<str>,
    pub(crate) decision_id: String,
}

/// Asks agent-token to authorize one use of `token` for `use_scope`; on success, the principal to
/// act as (the token's account, the agent as actor and rate-limit key, the account's plan).
pub(crate) async fn authorize(
    state: &AppState,
    token: &str,
    use_scope: &str,
) -> Result<(Principal, AgentUse), Problem> {
    let request = tonic::Request::new(pb::AuthorizeTokenUseRequest {
        token: token.to_owned(),
        scope: use_scope.to_owned(),
    });
    let used = state
        .agent_token
        .clone()
        .authorize_token_use(request)
        .await?
        .into_inner();
    let account_id = AccountId::try_from(used.account_id)
        .map_err(|error| Problem::internal(&format!("agent-token's account id: {error}")))?;
    let agent_id: Arc<str> = used.agent_id.into();
    state.rate_limiter.check(&agent_id)?;
    let principal = Principal {
        account_id,
        api_key_id: agent_id.clone(),
        plan: used.plan.into(),
    };
    let agent_use = AgentUse {
        agent_id,
        decision_id: used.decision_id,
    };
    Ok((principal, agent_use))
}
