//! Who may read the context: an account credential (as everywhere), or one of the account's agent
//! tokens, so that an agent holding only its token can orient itself. The token is verified in
//! this process as `POST /v1/tokens/verify` does (signature, time, revocation); it must be for
//! Latchkey itself (audience `latchkey`, or a token that names no service): a token for another
//! service is that service's. The agent is the actor and the rate-limit key.

use axum::extract::FromRequestParts;
use http::request::Parts;
use latchkey_errors::{ApiError, ErrorCode};
use latchkey_ids::AccountId;

use crate::{
    auth::{latchkey_agent_token, presented_secret},
    principal::Principal,
    problem::Problem,
    state::AppState,
};

/// The reader of the context, as a principal of the account (for an agent token: the agent as its
/// actor, on the default plan, since reading limits nothing).
pub(crate) struct ContextReader(pub(crate) Principal);

impl FromRequestParts<AppState> for ContextReader {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // Authenticated already (an MCP tool call made in this process).
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(Self(principal.clone()));
        }
        let secret = presented_secret(&parts.headers)?;
        if let Some(claims) = latchkey_agent_token(state, secret).await? {
            let account_id = AccountId::try_from(claims.account).map_err(|_| {
                Problem(ApiError::new(
                    ErrorCode::Unauthorized,
                    "the agent token names no account",
                ))
            })?;
            let agent: std::sync::Arc<str> = claims.sub.into();
            state.rate_limiter.check(&agent)?;
            return Ok(Self(Principal {
                account_id,
                api_key_id: agent,
                plan: "".into(),
            }));
        }
        Ok(Self(Principal::from_request_parts(parts, state).await?))
    }
}
