//! Who is calling: the account API key from `Authorization: Bearer <key>` or `X-Api-Key: <key>`,
//! resolved by agent-token over gRPC and cached by the SHA-256 of the secret. Extracting a
//! [`Principal`] also spends one request of the key's rate limit, so every authenticated route is
//! limited and unauthenticated ones are not.

use axum::extract::FromRequestParts;
use http::{HeaderMap, header, request::Parts};
use latchkey_errors::{ApiError, ErrorCode};
use latchkey_ids::AccountId;
use latchkey_proto::agent_token::v1::AuthenticateApiKeyRequest;
use tonic::Code;

use crate::{key_cache::SecretHash, principal::Principal, problem::Problem, state::AppState};

/// The header carrying a key for clients that cannot send `Authorization`.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Longer credentials are refused without asking agent-token; real keys are far shorter.
const MAX_SECRET_LEN: usize = 256;

impl FromRequestParts<AppState> for Principal {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(principal.clone());
        }
        let secret = presented_secret(&parts.headers)?;
        let principal = authenticate(state, secret).await?;
        state.rate_limiter.check(&principal.api_key_id)?;
        tracing::Span::current().record("account_id", principal.account_id.as_str());
        parts.extensions.insert(principal.clone());
        Ok(principal)
    }
}

/// The secret the caller presented, or why there is none to check. A bearer token wins; a
/// non-bearer `Authorization` (e.g. a proxy's Basic credentials) does not hide an `X-Api-Key`.
pub(crate) fn presented_secret(headers: &HeaderMap) -> Result<&str, Problem> {
    let unauthorized = |message: &str| Problem(ApiError::new(ErrorCode::Unauthorized, message));
    let bearer =
        headers
            .get(header::AUTHORIZATION)
            .map(|value| match value.to_str().ok().and_then(|v| v.split_once(' ')) {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Some(token.trim()),
                _ => None,
            });
    let secret = match (bearer, headers.get(API_KEY_HEADER)) {
        (Some(Some(token)), _) => token,
        (_, Some(value)) => value
            .to_str()
            .map_err(|_| unauthorized("the X-Api-Key header must hold an API key"))?
            .trim(),
        (Some(None), None) => return Err(unauthorized("the Authorization header must be `Bearer <API key>`")),
        (None, None) => {
            return Err(unauthorized(
                "send an API key as `Authorization: Bearer <key>` or `X-Api-Key: <key>`",
            ));
        }
    };
    let well_formed = !secret.is_empty()
        && secret.len() <= MAX_SECRET_LEN
        && !secret.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control());
    if well_formed {
        Ok(secret)
    } else {
        Err(unauthorized("the API key is malformed"))
    }
}

/// Resolves `secret` through the cache, or agent-token on a miss.
async fn authenticate(state: &AppState, secret: &str) -> Result<Principal, Problem> {
    let hash = SecretHash::of(secret);
    if let Some(principal) = state.keys.lookup(&hash) {
        return Ok(principal);
    }
    let generation = state.keys.generation();
    let request = tonic::Request::new(AuthenticateApiKeyRequest {
        secret: secret.to_owned(),
    });
    let answer = state.agent_token.clone().authenticate_api_key(request).await;
    let found = match answer {
        Ok(found) => found.into_inner(),
        // Unknown, deleted and malformed keys look the same to the caller.
        Err(status)
            if matches!(
                status.code(),
                Code::Unauthenticated | Code::NotFound | Code::InvalidArgument | Code::PermissionDenied
            ) =>
        {
            return Err(Problem(ApiError::new(
                ErrorCode::Unauthorized,
                "the API key is not valid",
            )));
        }
        Err(status) => return Err(status.into()),
    };
    // agent-token names the key's account and the key; anything else is its fault, not the caller's.
    let account_id = match AccountId::try_from(found.account_id) {
        Ok(account_id) if !found.api_key_id.is_empty() => account_id,
        _ => {
            return Err(Problem::internal(
                &"agent-token authenticated a key without naming its account and key ids",
            ));
        }
    };
    let principal = Principal {
        account_id,
        api_key_id: found.api_key_id.into(),
        plan: found.plan.into(),
    };
    state.keys.remember(hash, principal.clone(), generation);
    Ok(principal)
}

#[cfg(test)]
mod tests;
