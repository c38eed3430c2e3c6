//! The OpenAPI document's frame: info, tags, security schemes and the shared error responses. The
//! paths themselves come from the handlers' `#[utoipa::path]` attributes (see `routes`), so the
//! document is generated from the code that serves it and cannot drift; which of them need an API
//! key is said once, in `security`.

pub mod responses;
mod security;

use utoipa::{Modify, OpenApi};

use crate::{
    problem::{ProblemDocument, ProblemFieldError},
    routes::constraints::{EventSelector, EventTypeFilter, OauthProviderCode, ProviderCode},
};
use security::{RequireApiKey, SecuritySchemes};

/// The base document the routes are added to.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Latchkey",
        description = "Credentials and identity for AI agents. Authenticate with an account API key, \
            sent as `Authorization: Bearer <key>` or `X-Api-Key: <key>`, or with a JWT signed by one of \
            the account's certificates, sent the same way (see `POST /certificates`). Every error is an \
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
            responses::PlanLimit,
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
        (name = "domains", description = "Domains the account proves it controls with a DNS TXT record; they vouch for agent owners and webhook endpoints on them"),
        (name = "credentials", description = "Provider API keys, kept encrypted in the vault: write them, read a masked summary"),
        (name = "certificates", description = "Signing certificates: key pairs whose JWTs authenticate like API keys; public keys and JWKS for third parties"),
        (name = "directory", description = "AuthOS's organizations, their services and each service's API keys, managed with an account credential"),
        (name = "service-api", description = "AuthOS's service API: a service's users, subscriptions, info, analytics and provider tokens, called with the service's own API key (`X-Api-Key: lk_svc_…`), or with an account credential naming the service in `X-Latchkey-Service: {org_slug}/{service_slug}`"),
        (name = "agents-context", description = "The agent surface: the account's connections in a few hundred bytes, one provider's details with ready-to-run commands, the skill as markdown, the credential proxy, and the MCP server's protected-resource metadata (the MCP transport itself, at `/mcp`, is described in docs/mcp.md)"),
        (name = "usage", description = "The account's plan, its limits and its usage"),
        (name = "health", description = "Liveness, readiness and metrics"),
    )
)]
pub(crate) struct ApiDoc;

/// What the routes' own attributes leave out, applied to the finished document: the API key
/// requirement of every operation that is not public.
pub(crate) fn complete(document: &mut utoipa::openapi::OpenApi) {
    RequireApiKey.modify(document);
    security::NameTheService.modify(document);
}
