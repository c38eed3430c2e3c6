//! The credential proxy: `ANY /proxy/{provider}/{service}/{*path}` forwards the request to the
//! catalogue service's `api_base_url` with the account's credential added on the way (as the
//! catalogue's `proxy_auth` says), so an agent uses a credential it never sees, and a write-only
//! one (`PUT /credentials`) becomes usable without ever being readable.
//!
//! - Who: an account credential, or an agent token holding `proxy.<provider>` (each call
//!   authorized as a use of the token: the account's policies decide it, `token.used` records it).
//! - Where: only the catalogue's base URLs, and below their paths (`upstream`); the egress guard
//!   vets every address (`gateway.proxy_allow_loopback` / `_private` open ranges).
//! - What passes: the method, the path and query, the body (streamed, at most
//!   `gateway.proxy_body_limit_bytes` either way) and the caller's headers except hop-by-hop ones and
//!   credentials; back come the provider's status, headers (hop-by-hop ones, cookies and credential
//!   headers removed) and body, with the credential cut out should the provider echo it (`redact`).
//! - Each call is recorded as `credential.used` (provider, service, method, path template,
//!   status, agent): never the credential, the query or a body.

mod redact;
#[cfg(test)]
mod tests;
mod upstream;

use axum::{
    body::Body,
    extract::{FromRequestParts, Path, Request, State},
    response::{IntoResponse, Response},
};
use futures::{StreamExt, TryStreamExt};
use http::{HeaderMap, HeaderName, HeaderValue, header};
use latchkey_errors::{ApiError, ErrorCode, FieldError};
use latchkey_proto::oauth::v1 as pb;
use zeroize::Zeroizing;

use crate::{
    agent_use::{self, AgentUse},
    auth::{latchkey_agent_token, presented_secret},
    openapi::responses as r,
    principal::Principal,
    problem::Problem,
    state::AppState,
};
use redact::Redactor;

pub(crate) use latchkey_mcp::PROXIED_HEADER;

/// The methods the proxy carries (as its OpenAPI operations say); others are refused (405).
const PROXIED_METHODS: [http::Method; 5] = [
    http::Method::GET,
    http::Method::POST,
    http::Method::PUT,
    http::Method::PATCH,
    http::Method::DELETE,
];

/// Headers that describe one hop, never forwarded either way (RFC 9110 §7.6.1), and those the
/// proxy sets itself.
const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// Credentials the caller sent Latchkey, and Latchkey's own headers: never sent to a provider.
const CALLER_ONLY: [&str; 7] = [
    "authorization",
    "x-api-key",
    "cookie",
    "content-length",
    "x-latchkey-service",
    "forwarded",
    "x-forwarded-for",
];

/// Never returned to the caller: cookies for a session the caller must not have, and anything
/// that could carry a credential back.
const PROVIDER_ONLY: [&str; 5] = [
    "set-cookie",
    "authorization",
    "x-api-key",
    "content-length",
    "www-authenticate",
];

/// Who sends a proxied request, once authenticated.
enum Caller {
    /// Acting for the account: an account credential, or an MCP `call_provider` whose use was
    /// authorized in this process already (as `mcp.call_provider:<provider>`).
    Acting(Principal, Option<AgentUse>),
    /// An agent token of this deployment for Latchkey, whose use is yet to be authorized.
    Agent(String),
}

async fn authenticate(parts: &mut http::request::Parts, state: &AppState) -> Result<Caller, Problem> {
    if let Some(principal) = parts.extensions.get::<Principal>() {
        return Ok(Caller::Acting(
            principal.clone(),
            parts.extensions.get::<AgentUse>().cloned(),
        ));
    }
    let secret = presented_secret(&parts.headers)?;
    if latchkey_agent_token(state, secret).await?.is_some() {
        return Ok(Caller::Agent(secret.to_owned()));
    }
    Ok(Caller::Acting(Principal::from_request_parts(parts, state).await?, None))
}

/// The part of the request path after `/proxy/{provider}/{service}/`, as the client encoded it.
fn raw_tail(path: &str) -> &str {
    path.splitn(5, '/').nth(4).unwrap_or("")
}

fn forwarded_headers(incoming: &HeaderMap, credential_header: &HeaderName) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(incoming.len());
    for (name, value) in incoming {
        let dropped = HOP_BY_HOP.contains(&name.as_str())
            || CALLER_ONLY.contains(&name.as_str())
            || name == credential_header
            || name.as_str().starts_with("x-latchkey-");
        if !dropped {
            headers.append(name.clone(), value.clone());
        }
    }
    headers
}

fn returned_headers(upstream: &HeaderMap, credential_header: &HeaderName) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(upstream.len() + 1);
    for (name, value) in upstream {
        let dropped =
            HOP_BY_HOP.contains(&name.as_str()) || PROVIDER_ONLY.contains(&name.as_str()) || name == credential_header;
        if !dropped {
            headers.append(name.clone(), value.clone());
        }
    }
    headers.insert(
        HeaderName::from_static(PROXIED_HEADER),
        HeaderValue::from_static("true"),
    );
    headers
}

fn not_found(message: String) -> Problem {
    Problem(ApiError::new(ErrorCode::NotFound, message))
}

/// What the audit log keeps of one call.
struct CallRecord {
    provider: String,
    service: String,
    method: String,
    path_template: String,
}

/// Records the call as `credential.used`; a failure to record is logged, and the provider's
/// answer (already given) still goes back.
async fn record(state: &AppState, principal: &Principal, agent_use: Option<&AgentUse>, call: CallRecord, status: u16) {
    let message = pb::RecordCredentialUseRequest {
        provider: call.provider,
        service: call.service,
        method: call.method,
        path_template: call.path_template,
        status: u32::from(status),
        agent_id: agent_use.map(|used| used.agent_id.to_string()).unwrap_or_default(),
        decision_id: agent_use.map(|used| used.decision_id.clone()).unwrap_or_default(),
    };
    if let Err(status) = state
        .oauth
        .clone()
        .record_credential_use(principal.grpc_request(message))
        .await
    {
        tracing::error!(grpc.code = ?status.code(), "a proxied call could not be recorded as credential.used");
    }
}

/// Call a provider's API with the account's credential
///
/// Forwards the request to the catalogue service's `api_base_url` (`GET /ai/context/{provider}`
/// lists them) with the account's credential added as the provider expects it; the caller never
/// sees it. The path and query below `/proxy/{provider}/{service}/` are the provider's; the
/// answer is the provider's status, headers (no cookies or credentials) and body, with a
/// `Latchkey-Proxied: true` header. Authenticate with the account's API key, or with an agent
/// token holding `proxy.{provider}` (the account's policies decide each call). Bodies are capped
/// at `gateway.proxy_body_limit_bytes` (10 MiB by default). Every call is audited as
/// `credential.used`.
#[utoipa::path(
    method(get, post, put, patch, delete),
    path = "/proxy/{provider}/{service}/{path}",
    tag = "agents-context",
    params(
        ("provider" = String, Path, description = "The provider code", example = "github"),
        ("service" = String, Path, description = "The provider's service code", example = "repos"),
        ("path" = String, Path, description = "The path below the service's base URL; may hold `/`", example = "user/repos"),
    ),
    responses(
        (status = 200, description = "The provider's answer (any status the provider gives)"),
        (status = 400, response = r::BadRequest),
        (status = 403, response = r::Forbidden),
        (status = 404, response = r::NotFound),
        (status = 413, response = r::PayloadTooLarge),
        (status = 502, response = r::UpstreamError),
        r::Authenticated,
    )
)]
pub(crate) async fn proxy(State(state): State<AppState>, request: Request) -> Result<Response, Problem> {
    let (mut parts, body) = request.into_parts();
    if !PROXIED_METHODS.contains(&parts.method) {
        let mut refused = Problem(ApiError::new(
            ErrorCode::MethodNotAllowed,
            "the proxy carries GET, POST, PUT, PATCH and DELETE",
        ))
        .into_response();
        refused
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE"));
        return Ok(refused);
    }
    let Path((provider, service, _)) = Path::<(String, String, String)>::from_request_parts(&mut parts, &state)
        .await
        .map_err(|_| not_found("no route matches this path; /openapi.json lists them".to_owned()))?;
    let caller = authenticate(&mut parts, &state).await?;
    let known = state
        .catalogue
        .get(&provider)
        .ok_or_else(|| not_found(format!("unknown provider {provider:?}; GET /docs/providers lists them")))?;
    if !known.services.iter().any(|known| known.code == service) {
        let codes: Vec<&str> = known.services.iter().map(|s| s.code.as_str()).collect();
        return Err(not_found(format!(
            "{provider} has no service {service:?}; its services: {}",
            codes.join(", ")
        )));
    }
    let (principal, agent_use) = match caller {
        Caller::Acting(principal, agent_use) => (principal, agent_use),
        Caller::Agent(token) => {
            let (principal, agent_use) = agent_use::authorize(&state, &token, &format!("proxy.{provider}")).await?;
            (principal, Some(agent_use))
        }
    };

    let limit = state.proxy.body_limit_bytes;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(Problem(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body exceeds the proxy's limit of {limit} bytes"),
        )));
    }
    let raw_path = raw_tail(parts.uri.path()).to_owned();
    let call = CallRecord {
        provider: provider.clone(),
        service: service.clone(),
        method: parts.method.to_string(),
        path_template: upstream::template(&raw_path),
    };

    let message = pb::OpenProxyCredentialRequest {
        provider: provider.clone(),
        service: service.clone(),
        end_user_id: String::new(),
    };
    let credential = state
        .oauth
        .clone()
        .open_proxy_credential(principal.grpc_request(message))
        .await?
        .into_inner();
    let header_value = Zeroizing::new(credential.header_value);
    let url = upstream::target(&credential.api_base_url, &raw_path, parts.uri.query())
        .map_err(|bad| Problem(ApiError::validation(vec![FieldError::new("path", bad.0)])))?;
    if let Err(refusal) = latchkey_egress::check_literal_host(state.proxy.policy, &url) {
        return Err(refused_destination(refusal));
    }
    let credential_header = HeaderName::try_from(credential.header_name.as_str())
        .map_err(|error| Problem::internal(&format!("the oauth service's credential header: {error}")))?;
    let mut credential_value = HeaderValue::from_str(&header_value).map_err(|_| {
        Problem(ApiError::new(
            ErrorCode::Unprocessable,
            "the stored credential cannot be sent in a header",
        ))
    })?;
    credential_value.set_sensitive(true);

    let mut headers = forwarded_headers(&parts.headers, &credential_header);
    headers.insert(credential_header.clone(), credential_value);
    let mut sent = 0_usize;
    let request_body = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        sent += chunk.len();
        if sent > limit {
            return Err(std::io::Error::other("the request body exceeds the proxy's limit"));
        }
        Ok(chunk)
    });
    let answer = state
        .proxy
        .client
        .request(parts.method.clone(), url)
        .headers(headers)
        .body(reqwest::Body::wrap_stream(request_body))
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) => {
            record(&state, &principal, agent_use.as_ref(), call, 0).await;
            return Err(upstream_failure(&provider, error));
        }
    };
    let status = answer.status();
    record(&state, &principal, agent_use.as_ref(), call, status.as_u16()).await;
    if answer.content_length().is_some_and(|length| length > limit as u64) {
        return Err(Problem(ApiError::new(
            ErrorCode::UpstreamError,
            format!("{provider} answered more than the proxy's limit of {limit} bytes"),
        )));
    }
    let headers = returned_headers(answer.headers(), &credential_header);
    let secret = credential_secret(&header_value);
    let redactor = Redactor::new([header_value.as_bytes().to_vec(), secret]);
    let upstream_body = Box::pin(answer.bytes_stream().map_err(std::io::Error::other));
    // Each chunk is counted against the limit and masked; the end flushes what the redactor held.
    let masked = futures::stream::unfold(
        (upstream_body, Some(redactor), 0_usize),
        move |(mut upstream, redactor, mut received)| async move {
            let mut redactor = redactor?;
            match upstream.next().await {
                Some(Ok(chunk)) => {
                    received += chunk.len();
                    if received > limit {
                        let cut = std::io::Error::other("the provider's answer exceeds the proxy's limit");
                        return Some((Err(cut), (upstream, None, received)));
                    }
                    let masked = redactor.push(&chunk);
                    Some((Ok(masked), (upstream, Some(redactor), received)))
                }
                Some(Err(error)) => Some((Err(error), (upstream, None, received))),
                None => Some((Ok(redactor.finish()), (upstream, None, received))),
            }
        },
    );
    let mut response = Response::new(Body::from_stream(masked));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response.into_response())
}

/// The secret inside a header value (`Bearer <secret>` → `<secret>`), so an echo of either is cut.
fn credential_secret(header_value: &str) -> Vec<u8> {
    header_value
        .split_once(' ')
        .map_or(header_value, |(_, secret)| secret)
        .as_bytes()
        .to_vec()
}

fn refused_destination(refusal: latchkey_egress::Refusal) -> Problem {
    Problem(ApiError::new(
        ErrorCode::Forbidden,
        format!(
            "the provider's address is refused ({}); an operator may open it (gateway.proxy_allow_loopback, gateway.proxy_allow_private)",
            refusal.rule()
        ),
    ))
}

fn upstream_failure(provider: &str, error: reqwest::Error) -> Problem {
    if let Some(refusal) = latchkey_egress::refusal_of(&error) {
        return refused_destination(refusal);
    }
    let what = if error.is_timeout() {
        "did not answer in time"
    } else if error.is_connect() {
        "could not be reached"
    } else {
        "failed"
    };
    // The error may name the URL (with the query) but never the credential: headers are not in it.
    tracing::warn!(%provider, error = %error.without_url(), "a proxied call failed");
    Problem(ApiError::new(ErrorCode::UpstreamError, format!("{provider} {what}")))
}
