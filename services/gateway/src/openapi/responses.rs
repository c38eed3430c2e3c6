//! The error responses routes declare, each an `application/problem+json` [`ProblemDocument`]
//! registered once under `components/responses`, and the sets of them that routes share.
//! The single responses exist for their OpenAPI description only; handlers answer with `Problem`.

#![allow(
    dead_code,
    reason = "never constructed: only their derived OpenAPI responses are used"
)]

use std::collections::BTreeMap;

use utoipa::{
    IntoResponses, ToResponse,
    openapi::{Ref, RefOr, Response},
};

use crate::problem::ProblemDocument;

/// `VALIDATION_ERROR`: malformed JSON, a missing, unknown or wrong-typed field, or a bad query
/// parameter; `errors` names each field at fault.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct BadRequest(ProblemDocument);

/// `UNAUTHORIZED`: the API key is missing, malformed, unknown or deleted; or the certificate JWT
/// sent instead is not valid (its certificate revoked or expired, the JWT expired, already used,
/// or wrong in any other way).
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "`Bearer`"))
)]
pub struct Unauthorized(ProblemDocument);

/// `FORBIDDEN`: authenticated, but not allowed: e.g. the agent is paused or revoked, or an agent
/// asked for another agent's token.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Forbidden(ProblemDocument);

/// `NOT_FOUND`: no such resource in this account.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct NotFound(ProblemDocument);

/// `PLAN_LIMIT`: the account's plan allows no more of what this would create (or no more tokens
/// this month); the body names the `plan`, the `resource`, its `limit` and the account's `usage`.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct PlanLimit(ProblemDocument);

/// `UNPROCESSABLE`: the request is well-formed but cannot be carried out in the resource's
/// current state (e.g. resuming a revoked agent).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Unprocessable(ProblemDocument);

/// `PAYLOAD_TOO_LARGE`: the body is over the configured limit (1 MiB by default).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct PayloadTooLarge(ProblemDocument);

/// `UNSUPPORTED_MEDIA_TYPE`: a body was sent without `Content-Type: application/json`.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct UnsupportedMediaType(ProblemDocument);

/// `RATE_LIMITED`: this API key made too many requests; wait `Retry-After` seconds.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))
)]
pub struct RateLimited(ProblemDocument);

/// `INTERNAL_ERROR`: something failed on our side; quote the request id when reporting it.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct InternalError(ProblemDocument);

/// `SERVICE_UNAVAILABLE`: a Latchkey service this request needs is down; retry shortly.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Unavailable(ProblemDocument);

/// `INTEGRATION_NOT_FOUND`: the provider is not connected (for this end user); create an OAuth
/// session, or store the provider's key.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct IntegrationNotFound(ProblemDocument);

/// `UPSTREAM_ERROR`: the provider could not be reached or answered unexpectedly; retry later.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct UpstreamError(ProblemDocument);

/// What every route that takes an account API key can answer before its handler runs: the key is
/// missing or not valid (401) or over its rate limit (429), or agent-token, which authenticates it,
/// failed (500) or is unavailable (503).
pub struct Authenticated;

impl IntoResponses for Authenticated {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            reference::<Unauthorized>(401),
            reference::<RateLimited>(429),
            reference::<InternalError>(500),
            reference::<Unavailable>(503),
        ])
    }
}

/// What every route that reads a JSON body can answer before its handler runs: the body is not
/// valid (400), over the size limit (413) or not `application/json` (415).
pub struct JsonBody;

impl IntoResponses for JsonBody {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            reference::<BadRequest>(400),
            reference::<PayloadTooLarge>(413),
            reference::<UnsupportedMediaType>(415),
        ])
    }
}

/// What every route of the service API (`/api/service/*`) can answer before its handler runs, on
/// top of [`Authenticated`]: no service named (400: an account credential without
/// `X-Latchkey-Service`, or a service key with it), a read-only service key on a route that
/// changes something (403), or a named service the account does not have (404).
pub struct ServiceApi;

impl IntoResponses for ServiceApi {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut responses = Authenticated::responses();
        responses.extend([
            reference::<BadRequest>(400),
            reference::<Forbidden>(403),
            reference::<NotFound>(404),
        ]);
        responses
    }
}

/// What a public route that calls a Latchkey service can answer when that service fails (500) or
/// is unavailable (503). Authenticated routes have these in [`Authenticated`].
pub struct ServiceCall;

impl IntoResponses for ServiceCall {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([reference::<InternalError>(500), reference::<Unavailable>(503)])
    }
}

/// `status` answered with the registered response `R`, by reference.
fn reference<'r, R: ToResponse<'r>>(status: u16) -> (String, RefOr<Response>) {
    (status.to_string(), RefOr::Ref(Ref::from_response_name(R::response().0)))
}
