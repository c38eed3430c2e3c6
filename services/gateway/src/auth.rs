//! Who is calling: the account API key from `Authorization: Bearer <key>` or `X-Api-Key: <key>`,
//! resolved by agent-token over gRPC and cached by the SHA-256 of the secret; or, in the same
//! places, a JWT signed with one of the account's certificates, which agent-token checks on every
//! request (each is single-use, so there is nothing to cache, and a revocation holds at once).
//! Extracting a [`Principal`] also spends one request of the key's (or certificate's) rate limit,
//! so every authenticated route is limited and unauthenticated ones are not.

use axum::extract::FromRequestParts;
use http::{HeaderMap, header, request::Parts};
use latchkey_errors::{ApiError, ErrorCode};
use latchkey_ids::AccountId;
use latchkey_proto::agent_token::v1::{AuthenticateApiKeyRequest, AuthenticateCertificateJwtRequest};
use tonic::Code;

use crate::{key_cache::SecretHash, principal::Principal, problem::Problem, state::AppState};

/// The header carrying a key for clients that cannot send `Authorization`.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Longer credentials are refused without asking agent-token; real keys are far shorter.
const MAX_SECRET_LEN: usize = 256;

/// Longer certificate JWTs are refused without asking agent-token (its own limit is the same).
const MAX_JWT_LEN: usize = 8 * 1024;

impl FromRequestParts<AppState> for Principal {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(principal.clone());
        }
        let secret = presented_secret(&parts.headers)?;
        if secret.starts_with(latchkey_server::secrets::SERVICE_KEY_PREFIX) {
            return Err(Problem(ApiError::new(
                ErrorCode::Unauthorized,
                "a service API key (lk_svc_…) authenticates only the service API (/api/service/*)",
            )));
        }
        let principal = if looks_like_jwt(secret) {
            authenticate_jwt(state, secret).await?
        } else {
            authenticate(state, secret).await?
        };
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
    let max_len = if looks_like_jwt(secret) {
        MAX_JWT_LEN
    } else {
        MAX_SECRET_LEN
    };
    let well_formed = !secret.is_empty()
        && secret.len() <= max_len
        && !secret.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control());
    if well_formed {
        Ok(secret)
    } else {
        Err(unauthorized("the API key is malformed"))
    }
}

/// Whether `secret` has the shape of a compact JWS (three base64url parts); an API key never has.
pub(crate) fn looks_like_jwt(secret: &str) -> bool {
    secret.split('.').count() == 3
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The claims of `secret` when it is an agent token this deployment signed for Latchkey itself
/// (audience `latchkey`, or none), verified in this process as `POST /v1/tokens/verify` does;
/// `None` when it is not one (another credential, or a token refused: a certificate JWT is checked
/// as the account's principal next). 503 while the verifier has not caught up with revocations.
pub(crate) async fn latchkey_agent_token(
    state: &AppState,
    secret: &str,
) -> Result<Option<latchkey_tokens::Claims>, Problem> {
    if !looks_like_jwt(secret) {
        return Ok(None);
    }
    let requirements = latchkey_tokens::Requirements {
        audience: Some(crate::token_verifier::LATCHKEY_AUDIENCE),
        scope: &[],
    };
    match state.tokens.verify(secret, &requirements).await {
        Some(Ok(claims)) => Ok(Some(claims)),
        Some(Err(_)) => Ok(None),
        None => Err(Problem(ApiError::unavailable())),
    }
}

/// Asks agent-token whose certificate signed `token`: every time, nothing cached. The certificate
/// is the actor and its rate-limit key.
async fn authenticate_jwt(state: &AppState, token: &str) -> Result<Principal, Problem> {
    let request = tonic::Request::new(AuthenticateCertificateJwtRequest {
        token: token.to_owned(),
    });
    let found = match state.certificates.clone().authenticate_certificate_jwt(request).await {
        Ok(found) => found.into_inner(),
        Err(status) if refused(&status) => {
            return Err(Problem(ApiError::new(
                ErrorCode::Unauthorized,
                "the certificate JWT is not valid",
            )));
        }
        Err(status) => return Err(status.into()),
    };
    match AccountId::try_from(found.account_id) {
        Ok(account_id) if !found.certificate_id.is_empty() => Ok(Principal {
            account_id,
            api_key_id: found.certificate_id.into(),
            plan: found.plan.into(),
        }),
        _ => Err(Problem::internal(
            &"agent-token authenticated a certificate JWT without naming its account and certificate",
        )),
    }
}

/// Whether agent-token's answer says the credential is not valid (as opposed to its own failure).
pub(crate) fn refused(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        Code::Unauthenticated | Code::NotFound | Code::InvalidArgument | Code::PermissionDenied
    )
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
        Err(status) if refused(&status) => {
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
