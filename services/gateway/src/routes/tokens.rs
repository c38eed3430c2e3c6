//! `POST /v1/tokens` and `GET /.well-known/jwks.json`: agent tokens, through agent-token. A token is
//! requested with the account's API key, or by the agent itself with its own secret key.

use axum::{
    Json,
    extract::{FromRequestParts, State},
    http::{StatusCode, header, request::Parts},
    response::IntoResponse,
};
use chrono::{DateTime, Utc};
use latchkey_proto::agent_token::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    auth::{Principal, presented_secret},
    json::ValidJson,
    openapi::responses as r,
    problem::Problem,
    state::AppState,
};

/// The prefix of an agent's own secret key.
const AGENT_SECRET_PREFIX: &str = "sk_live_";

/// Who asks for a token: the account, or the agent with its own secret key.
pub(crate) enum TokenRequester {
    Account(Principal),
    Agent(String),
}

impl FromRequestParts<AppState> for TokenRequester {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let secret = presented_secret(&parts.headers)?;
        if secret.starts_with(AGENT_SECRET_PREFIX) {
            return Ok(Self::Agent(secret.to_owned()));
        }
        Ok(Self::Account(Principal::from_request_parts(parts, state).await?))
    }
}

/// A token request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueTokenBody {
    /// The agent the token is for (an agent asking with its own key may only name itself).
    #[schema(example = "agent_a1b2c3d4e5f6g7h8")]
    pub agent_id: String,
    /// Scopes to grant: dot-separated names, `*` allowed as the last segment (`db.*`).
    #[schema(example = json!(["secrets.read", "db.write"]))]
    pub scope: Vec<String>,
    /// Lifetime in seconds, 1 to 86400. Default 300.
    #[schema(minimum = 1, maximum = 86400)]
    pub ttl: Option<i64>,
    /// The service the token is for (its `aud`). Default `any`.
    pub target_service: Option<String>,
    /// What the agent needs the token for, in words.
    pub intent: Option<String>,
}

/// A signed agent token.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedTokenBody {
    /// An Ed25519-signed JWT (`alg: EdDSA`); verify it offline with `/.well-known/jwks.json`.
    pub token: String,
    pub agent_id: String,
    pub scope: Vec<String>,
    pub expires_at: DateTime<Utc>,
    /// The token's id (`jti`), the handle revocation uses.
    pub token_id: String,
    /// The audience (`aud`): the target service, or `any`.
    pub target_service: String,
    /// The decision this issue records, also in the audit entry.
    pub decision_id: String,
}

/// Issue an agent token
///
/// Authenticate with the account's API key, or as the agent with its own secret key (`sk_live_…`).
#[utoipa::path(
    post,
    path = "/v1/tokens",
    tag = "tokens",
    request_body(content = IssueTokenBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The token", body = IssuedTokenBody),
        (status = 400, response = r::BadRequest),
        (status = 401, response = r::Unauthorized),
        (status = 403, response = r::Forbidden),
        (status = 404, response = r::NotFound),
        (status = 413, response = r::PayloadTooLarge),
        (status = 415, response = r::UnsupportedMediaType),
        (status = 429, response = r::RateLimited),
        (status = 500, response = r::InternalError),
        (status = 503, response = r::Unavailable),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn issue_token(
    State(state): State<AppState>,
    requester: TokenRequester,
    ValidJson(body): ValidJson<IssueTokenBody>,
) -> Result<(StatusCode, Json<IssuedTokenBody>), Problem> {
    let mut message = pb::IssueTokenRequest {
        agent_id: body.agent_id,
        scope: body.scope,
        ttl: body.ttl,
        target_service: body.target_service.unwrap_or_default(),
        intent: body.intent.unwrap_or_default(),
        agent_secret: String::new(),
    };
    let request = match requester {
        TokenRequester::Account(principal) => principal.grpc_request(message),
        TokenRequester::Agent(secret) => {
            message.agent_secret = secret;
            tonic::Request::new(message)
        }
    };
    let issued = state.agent_token.clone().issue_token(request).await?.into_inner();
    let expires_at = DateTime::from_timestamp(issued.expires_at, 0)
        .ok_or_else(|| Problem::internal(&"agent-token answered an invalid expiry"))?;
    let body = IssuedTokenBody {
        token: issued.token,
        agent_id: issued.agent_id,
        scope: issued.scope,
        expires_at,
        token_id: issued.jti,
        target_service: issued.audience,
        decision_id: issued.decision_id,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// The keys that sign agent tokens
///
/// A JSON Web Key Set (RFC 7517, OKP/Ed25519 keys per RFC 8037). New keys appear here before they
/// sign; retired keys stay until the last token they signed has expired.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "tokens",
    responses(
        (status = 200, description = "The JWKS", content_type = "application/json", body = Object,
            headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
        (status = 500, response = r::InternalError),
        (status = 503, response = r::Unavailable),
    )
)]
pub(crate) async fn jwks(State(state): State<AppState>) -> Result<impl IntoResponse, Problem> {
    let response = state
        .agent_token
        .clone()
        .get_jwks(tonic::Request::new(pb::GetJwksRequest {}))
        .await?
        .into_inner();
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            // Half the publish lead of a rotated-in key (600 s), so caches always hold a
            // key before its first token.
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        response.jwks_json,
    ))
}
