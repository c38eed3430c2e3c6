//! Who calls the service API (`/api/service/*`, AuthOS's routes): a service, acting through one of
//! its API keys (`X-Api-Key: lk_svc_…`, or as a bearer token), or the account that owns it, acting
//! through an account credential and naming the service in `X-Latchkey-Service:
//! {org_slug}/{service_slug}`. Either way a request acts for exactly one service. A service key
//! cannot be widened: it refuses the header outright, and every call to the directory names the
//! key's own service, whose queries are bounded by it.
//!
//! Service keys are resolved by the directory (and the account's plan by agent-token) and cached
//! by the SHA-256 of the secret, as account keys are: a `service_key.deleted` event drops one at
//! once on every gateway, and the cache is off while that feed may be missing events.

use axum::extract::FromRequestParts;
use http::request::Parts;
use latchkey_errors::{ApiError, ErrorCode, FieldError};
use latchkey_ids::AccountId;
use latchkey_proto::{agent_token::v1 as at, directory::v1 as pb};
use latchkey_server::secrets::SERVICE_KEY_PREFIX;
use tonic::Code;

pub(crate) use crate::principal::ServiceCaller;
use crate::{auth::presented_secret, key_cache::SecretHash, principal::Principal, problem::Problem, state::AppState};

/// The header an account credential names its service in.
pub const SERVICE_HEADER: &str = "x-latchkey-service";

impl FromRequestParts<AppState> for ServiceCaller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(caller) = parts.extensions.get::<ServiceCaller>() {
            return Ok(caller.clone());
        }
        let secret = presented_secret(&parts.headers)?;
        let caller = if secret.starts_with(SERVICE_KEY_PREFIX) {
            if parts.headers.contains_key(SERVICE_HEADER) {
                return Err(Problem(ApiError::validation(vec![FieldError::new(
                    "X-Latchkey-Service",
                    "a service API key acts for its own service only: leave the header out",
                )])));
            }
            let caller = authenticate_service_key(state, secret).await?;
            state.rate_limiter.check(&caller.actor)?;
            caller
        } else {
            let principal = Principal::from_request_parts(parts, state).await?;
            owned_service(state, &parts.headers, principal).await?
        };
        if !caller.may(&parts.method) {
            return Err(Problem(ApiError::new(
                ErrorCode::Forbidden,
                "this service API key holds only service:read",
            )));
        }
        tracing::Span::current().record("account_id", caller.account_id.as_str());
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// The service an account credential names in [`SERVICE_HEADER`], which must be the account's.
async fn owned_service(
    state: &AppState,
    headers: &http::HeaderMap,
    principal: Principal,
) -> Result<ServiceCaller, Problem> {
    let header_error = |message: &str| {
        Problem(ApiError::validation(vec![FieldError::new(
            "X-Latchkey-Service",
            message,
        )]))
    };
    let Some(value) = headers.get(SERVICE_HEADER) else {
        return Err(header_error(
            "an account credential names the service it acts for (`X-Latchkey-Service: {org_slug}/{service_slug}`); \
             or call with the service's own API key",
        ));
    };
    let Some((org_slug, service_slug)) = value.to_str().ok().and_then(|text| text.trim().split_once('/')) else {
        return Err(header_error("`{org_slug}/{service_slug}`"));
    };
    let request = principal.grpc_request(pb::ServiceRef {
        org_slug: org_slug.to_owned(),
        service_slug: service_slug.to_owned(),
    });
    let service = state.directory.clone().get_service(request).await?.into_inner();
    Ok(ServiceCaller {
        account_id: principal.account_id,
        service_id: service.id.into(),
        actor: principal.api_key_id,
        plan: principal.plan,
        can_write: true,
    })
}

/// Resolves a service key through the cache, or the directory (and agent-token for the account's
/// plan) on a miss.
async fn authenticate_service_key(state: &AppState, secret: &str) -> Result<ServiceCaller, Problem> {
    let hash = SecretHash::of(secret);
    if let Some(caller) = state.service_keys.lookup(&hash) {
        return Ok(caller);
    }
    let generation = state.service_keys.generation();
    let request = tonic::Request::new(pb::AuthenticateServiceKeyRequest {
        secret: secret.to_owned(),
    });
    let found = match state.directory.clone().authenticate_service_key(request).await {
        Ok(found) => found.into_inner(),
        Err(status)
            if matches!(
                status.code(),
                Code::Unauthenticated | Code::NotFound | Code::InvalidArgument
            ) =>
        {
            return Err(Problem(ApiError::new(
                ErrorCode::Unauthorized,
                "the service API key is not valid",
            )));
        }
        Err(status) => return Err(status.into()),
    };
    let account_id = match AccountId::try_from(found.account_id) {
        Ok(account_id) if !found.service_id.is_empty() && !found.key_id.is_empty() => account_id,
        _ => {
            return Err(Problem::internal(
                &"the directory authenticated a service key without naming its account, service and key",
            ));
        }
    };
    let plan_request = latchkey_server::with_account(at::GetAccountPlanRequest {}, account_id.as_str(), None);
    let plan = state
        .agent_token
        .clone()
        .get_account_plan(plan_request)
        .await?
        .into_inner()
        .plan;
    let caller = ServiceCaller {
        account_id,
        service_id: found.service_id.into(),
        actor: found.key_id.into(),
        plan: plan.into(),
        can_write: found.permissions.iter().any(|permission| permission == "service:write"),
    };
    state.service_keys.remember(hash, caller.clone(), generation);
    Ok(caller)
}

#[cfg(test)]
mod tests;
