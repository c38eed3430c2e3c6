//! The OpenAPI document's frame: info, tags, security schemes and the shared error responses. The
//! paths themselves come from the handlers' `#[utoipa::path]` attributes (see `routes`), so the
//! document is generated from the code that serves it and cannot drift.

use utoipa::{
    Modify, OpenApi,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::{
    problem::{ProblemDocument, ProblemFieldError},
    routes::constraints::{EventSelector, EventTypeFilter, OauthProviderCode, ProviderCode},
};

/// The error responses routes declare, each an `application/problem+json` [`ProblemDocument`].
/// These types exist for their OpenAPI description only; handlers answer with `Problem`.
#[allow(
    dead_code,
    reason = "never constructed: only their derived OpenAPI responses are used"
)]
pub mod responses {
    use utoipa::ToResponse;

    use crate::problem::ProblemDocument;

    /// `VALIDATION_ERROR`: malformed JSON, a missing, unknown or wrong-typed field, or a bad query
    /// parameter; `errors` names each field at fault.
    #[derive(ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub struct BadRequest(ProblemDocument);

    /// `UNAUTHORIZED`: the API key is missing, malformed, unknown or deleted.
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
}

/// The base document the routes are added to.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Latchkey",
        description = "Credentials and identity for AI agents. Authenticate with an account API key, \
            sent as `Authorization: Bearer <key>` or `X-Api-Key: <key>`. Every error is an \
            `application/problem+json` document whose `code` member is the documented error code.",
    ),
    components(
        // The closed sets some parameters name: listed here because parameters alone do not add
        // their schemas to the document.
        schemas(
            ProblemDocument,
            ProblemFieldError,
            ProviderCode,
            OauthProviderCode,
            EventSelector,
            EventTypeFilter
        ),
        responses(
            responses::BadRequest,
            responses::Unauthorized,
            responses::Forbidden,
            responses::NotFound,
            responses::Unprocessable,
            responses::PayloadTooLarge,
            responses::UnsupportedMediaType,
            responses::RateLimited,
            responses::InternalError,
            responses::Unavailable,
            responses::IntegrationNotFound,
            responses::UpstreamError,
        ),
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "api-keys", description = "The account's API keys"),
        (name = "agents", description = "Agent identities: create, list, pause, resume, revoke"),
        (name = "tokens", description = "Short-lived, scoped, Ed25519-signed agent tokens and their keys"),
        (name = "policies", description = "Policies that allow, deny, throttle or hold token requests; dry-run evaluation"),
        (name = "approvals", description = "Token requests held for approval by a policy: list, read, approve, deny"),
        (name = "audit", description = "The account's hash-chained audit log"),
        (name = "webhooks", description = "Webhook endpoints, signed Standard Webhooks deliveries, their attempts, retries and replays"),
        (name = "oauth", description = "OAuth connections, provider tokens (refreshed race-free) and the provider catalogue"),
        (name = "credentials", description = "Provider API keys, kept encrypted in the vault: write them, read a masked summary"),
        (name = "health", description = "Liveness, readiness and metrics"),
    )
)]
pub(crate) struct ApiDoc;

/// Registers the two ways to send an API key.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An account API key: `Authorization: Bearer lk_live_…`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "An account API key: `X-Api-Key: lk_live_…`",
            ))),
        );
    }
}
