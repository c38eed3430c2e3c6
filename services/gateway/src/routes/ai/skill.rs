//! `GET /ai/skill`: the skill an agent is given (Akhrot's, seed 001's `GET /ai/skill`), as markdown
//! written for this deployment: its base URL, the key format, the workflow through the routes it
//! serves, the providers its oauth service offers and the error codes. Generated on each request
//! from the catalogue and the code's own lists, so it names nothing that is not there (a test
//! holds every path it names to the OpenAPI document).

use std::fmt::Write as _;

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use latchkey_errors::ErrorCode;
use latchkey_proto::oauth::v1 as oa;

use super::context::commands;
use crate::{openapi::responses as r, problem::Problem, state::AppState};

/// The skill for agents
///
/// Markdown: how an agent uses this Latchkey (base URL, key format, the context-first workflow,
/// getting tokens, connecting providers, agent tokens), the providers this deployment offers and
/// the error codes. No key needed: it holds no account's data.
#[utoipa::path(
    get,
    path = "/ai/skill",
    tag = "agents-context",
    responses(
        (status = 200, description = "The skill", content_type = "text/markdown", body = String),
        r::ServiceCall,
    )
)]
pub(crate) async fn skill(State(state): State<AppState>) -> Result<Response, Problem> {
    let request = tonic::Request::new(oa::ListProvidersRequest {});
    let providers = state
        .oauth
        .clone()
        .list_providers(request)
        .await?
        .into_inner()
        .providers;
    let markdown = render(&state.public_url, &providers);
    Ok(([(header::CONTENT_TYPE, "text/markdown; charset=utf-8")], markdown).into_response())
}

/// The skill for a deployment at `base` offering `providers`.
pub(crate) fn render(base: &str, providers: &[oa::Provider]) -> String {
    let example = providers
        .iter()
        .find(|provider| provider.kind == "oauth2" && provider.configured)
        .or_else(|| providers.first())
        .map_or("google", |provider| provider.code.as_str());
    let mut out = String::with_capacity(6 * 1024);
    let _ = write!(
        out,
        "# Latchkey: credentials for AI agents\n\n\
         You can reach the APIs of the providers below through Latchkey, which keeps the credentials and \
         refreshes them. Never ask a person for a password or token: ask Latchkey.\n\n\
         ## Configuration\n\n\
         - **Base URL**: {base}\n\
         - **API key**: `lk_live_` followed by 32 letters and digits, in the `LATCHKEY_API_KEY` environment \
         variable. Send it as `Authorization: Bearer $LATCHKEY_API_KEY` on every call below.\n\
         - Every error is `application/problem+json` with a `code` (listed at the end).\n\n\
         ## Workflow\n\n\
         ### 1. Start with the summary (a few hundred bytes)\n\n\
         ```bash\ncurl -s -H \"Authorization: Bearer $LATCHKEY_API_KEY\" '{base}/ai/context/summary'\n```\n\n\
         It lists the connected providers, each `ok`, `expired` (the next fetch refreshes it) or \
         `action_required` (a person must connect again), with its services.\n\n\
         ### 2. Details only when needed\n\n\
         ```bash\ncurl -s -H \"Authorization: Bearer $LATCHKEY_API_KEY\" '{base}/ai/context/{example}'\n```\n\n\
         `{base}/ai/context/{{provider}}/{{service}}` is smaller still. Both answer the scopes granted and \
         available, and ready-to-run `getToken.curl` and `connect.curl` commands.\n\n\
         ### 3. Get a token\n\n\
         ```bash\n{}\n```\n\n\
         Use `data.accessToken` with the provider's API (`apiBaseUrl` of the service). Tokens refresh by \
         themselves: fetch again rather than keeping one.\n\n\
         Better still, let Latchkey add the credential for you, so it never passes through your context: \
         `{base}/proxy/{{provider}}/{{service}}/{{path}}` forwards any method, query and body to the \
         service's `apiBaseUrl` followed by `{{path}}`, and answers what the provider answers. Keys stored \
         write-only are usable only this way. The same is offered as MCP tools at `/mcp` \
         (`call_provider`, `fetch_token`, `context_summary`, ...).\n\n\
         ### 4. Connect a provider that is not connected\n\n\
         ```bash\n{}\n```\n\n\
         The answer holds a `url`: **a person must open it** and consent. You cannot authorize for them. \
         An API-key provider is connected by storing its key (`PUT {base}/credentials`); keys can be \
         stored write-only, and are then never returned.\n\n\
         ### 5. Your own identity (optional)\n\n\
         An agent with an identity (`POST {base}/v1/agents`) gets short-lived, scoped tokens at \
         `POST {base}/v1/tokens` that any service verifies offline against \
         `{base}/.well-known/jwks.json`. Policies may allow, deny, throttle or hold such a request for a \
         person's approval.\n\n",
        commands::get_token(base, example),
        commands::connect(base, example, "oauth2", &[]),
    );
    out.push_str("## Providers\n\n| code | name | kind | services |\n|---|---|---|---|\n");
    for provider in providers {
        let services: Vec<&str> = provider.services.iter().map(|service| service.code.as_str()).collect();
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            provider.code,
            provider.name,
            provider.kind,
            if services.is_empty() {
                "-".to_owned()
            } else {
                services.join(", ")
            }
        );
    }
    out.push_str("\n## Error codes\n\n| code | HTTP | what to do |\n|---|---|---|\n");
    for code in ErrorCode::ALL {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            code.as_str(),
            code.http_status(),
            advice(code)
        );
    }
    out
}

fn advice(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::ValidationError => "fix the fields named in `errors`",
        ErrorCode::TokenExpired => "a person must connect the provider again (`connect.curl`)",
        ErrorCode::SessionExpired => "start a new session",
        ErrorCode::Unauthorized => "check `LATCHKEY_API_KEY`",
        ErrorCode::PlanLimit => "the account's plan allows no more; tell a person",
        ErrorCode::Forbidden => "not allowed for this key or agent; do not retry",
        ErrorCode::NotFound => "check the id or path",
        ErrorCode::IntegrationNotFound => "the provider is not connected: `connect.curl`",
        ErrorCode::MethodNotAllowed => "check the method",
        ErrorCode::PayloadTooLarge => "send less",
        ErrorCode::UnsupportedMediaType => "send `Content-Type: application/json`",
        ErrorCode::Unprocessable => "the resource's state refuses it; read it first",
        ErrorCode::RateLimited => "wait `Retry-After` seconds",
        ErrorCode::InternalError => "retry later",
        ErrorCode::UpstreamError => "the provider failed; retry later",
        ErrorCode::Unavailable => "retry later",
    }
}

#[cfg(test)]
mod tests;
