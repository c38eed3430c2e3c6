//! An agent using its token at one of Latchkey's own doors: an MCP tool call (`mcp.fetch_token:google`)
//! or a provider call through the credential proxy (`proxy.github`). The use is a scope like any
//! other: the token must hold it (a wildcard it holds covers it), be for Latchkey (audience
//! `latchkey` or none), and its agent be active; then the account's policies decide it exactly as
//! they decide a token request for that scope. An allowed use is recorded as `token.used` with its
//! decision id; a denied one as `token.denied` (by the policy gate). A use a policy would hold for
//! approval is refused naming the approval: a tool call cannot wait for a person, and an approved
//! use is redeemed as a token (`POST /v1/tokens` with the approval's id), which the agent then uses.

use latchkey_errors::{ApiError, ErrorCode, FieldError};
use latchkey_events::{Envelope, catalogue::TokenUsed};
use latchkey_ids::{AccountId, AgentId, DecisionId};
use latchkey_server::{InfraError, stored_id};

use crate::{
    AgentStatus, AgentToken, AgentTokenError, EVENT_SOURCE,
    policy_gate::{Asked, Gate},
    signing::now_secs,
    tokens::{Claims, Invalid, Requirements, scope},
};

/// The audience a token must have (or none) to be used at Latchkey's own doors.
pub const LATCHKEY_AUDIENCE: &str = "latchkey";

/// An allowed use.
#[derive(Clone, Debug)]
pub struct AuthorizedUse {
    pub account: AccountId,
    pub agent_id: AgentId,
    pub claims: Claims,
    pub decision_id: DecisionId,
    /// The account's plan.
    pub plan: String,
}

/// A token that does not verify is the caller's credential failing (401); one that verifies but
/// lacks the use's scope is a refusal (403).
fn refused(reason: Invalid, use_scope: &str) -> AgentTokenError {
    let error = match reason {
        Invalid::InsufficientScope => ApiError::new(
            ErrorCode::Forbidden,
            format!("the agent token does not hold the scope `{use_scope}`"),
        ),
        Invalid::WrongAudience => ApiError::new(
            ErrorCode::Unauthorized,
            format!("the agent token is for another service: use one for `{LATCHKEY_AUDIENCE}` or for none"),
        ),
        other => ApiError::new(
            ErrorCode::Unauthorized,
            format!("the agent token is not valid ({})", other.as_str()),
        ),
    };
    AgentTokenError::Invalid(error)
}

impl AgentToken {
    /// Authorizes one use of `token` for `use_scope` (see the module).
    pub async fn authorize_token_use(&self, token: &str, use_scope: &str) -> Result<AuthorizedUse, AgentTokenError> {
        if let Err(problem) = scope::check_scope(use_scope) {
            return Err(AgentTokenError::Invalid(ApiError::validation(vec![FieldError::new(
                "scope",
                problem.to_string(),
            )])));
        }
        if use_scope.contains('*') {
            return Err(AgentTokenError::Invalid(ApiError::validation(vec![FieldError::new(
                "scope",
                "a use is one scope, never a pattern",
            )])));
        }
        let required = [use_scope.to_owned()];
        let requirements = Requirements {
            audience: Some(LATCHKEY_AUDIENCE),
            scope: &required,
        };
        let claims = match self.verify_token(token, &requirements) {
            None => return Err(InfraError::Unavailable("token verification").into()),
            Some(Err(reason)) => return Err(refused(reason, use_scope)),
            Some(Ok(claims)) => claims,
        };
        // The token verified with this service's keys: its account and agent are ids it wrote.
        let account: AccountId = stored_id(claims.account.clone())?;
        let agent_id: AgentId = stored_id(claims.sub.clone())?;
        let agent = self.get_agent(&account, &agent_id).await?;
        if agent.status != AgentStatus::Active {
            return Err(AgentTokenError::Invalid(ApiError::new(
                ErrorCode::Forbidden,
                "the agent is paused or revoked",
            )));
        }
        let decision_id = DecisionId::new();
        let asked = Asked {
            agent: &agent,
            scope: &required,
            audience: LATCHKEY_AUDIENCE,
            ttl: (claims.exp - now_secs()).max(1),
            intent: claims.intent.as_deref(),
            approval_id: None,
            decision_id: &decision_id,
            actor: Some(&claims.sub),
        };
        match self.gate(&account, asked).await? {
            Gate::Issue | Gate::IssueApproved { .. } => {}
            Gate::Held { approval_id, .. } => {
                let message = format!(
                    "a policy holds `{use_scope}` for a person's approval ({approval_id}, decision {decision_id}); \
                     once approved, redeem it with POST /v1/tokens and use that token"
                );
                return Err(AgentTokenError::Invalid(ApiError::new(ErrorCode::Forbidden, message)));
            }
        }
        let event = TokenUsed {
            jti: claims.jti.clone(),
            agent_id: claims.sub.clone(),
            scope: use_scope.to_owned(),
        };
        let mut envelope = Envelope::new(EVENT_SOURCE, account.as_str(), Some(&claims.sub), &event);
        envelope.decisionid = Some(decision_id.to_string());
        let mut tx = self.db.begin_write().await?;
        self.outbox.enqueue(&mut tx, &envelope).await?;
        self.outbox.commit(tx).await?;
        let plan = self.account_plan(&account).await?;
        Ok(AuthorizedUse {
            account,
            agent_id,
            claims,
            decision_id,
            plan,
        })
    }
}
