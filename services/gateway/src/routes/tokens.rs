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
use latchkey_tokens::Requirements;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    auth::presented_secret, json::ValidJson, openapi::responses as r, principal::Principal, problem::Problem,
    state::AppState, token_verifier::Verdict,
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
        // Authenticated already (an MCP tool call made in this process).
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(Self::Account(principal.clone()));
        }
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
    #[schema(pattern = r"\S", example = "agent_a1b2c3d4e5f6g7h8")]
    pub agent_id: String,
    /// Scopes to grant: 1 to 50 dot-separated names of letters, digits, `_`, `-` and `:`, each at
    /// most 128 bytes, with `*` allowed only as the whole last segment (`db.*`) or alone (`*`). A
    /// wildcard asks for everything below it, and policies judge it by everything it reaches.
    #[schema(
        example = json!(["secrets.read", "db.write"]),
        min_items = 1,
        max_items = 50,
        min_length = 1,
        max_length = 128,
        pattern = r"^(\*|[A-Za-z0-9_:-]+(\.[A-Za-z0-9_:-]+)*(\.\*)?)$"
    )]
    pub scope: Vec<String>,
    /// Lifetime in seconds, 1 to 86400. Default 300.
    #[schema(minimum = 1, maximum = 86400)]
    pub ttl: Option<i64>,
    /// The service the token is for (its `aud`): up to 128 bytes, no whitespace, control characters
    /// or `*`. Default (or empty) `any`.
    #[schema(max_length = 128, pattern = r"^[^\s*\u0000-\u001f\u007f-\u009f]*$")]
    pub target_service: Option<String>,
    /// What the agent needs the token for, in words: up to 500 characters.
    #[schema(max_length = 500)]
    pub intent: Option<String>,
    /// `apr_…`: once a request held for approval (202) is approved, repeat it with the approval's id
    /// to get its token. An approval yields one token; a second redemption is refused (422).
    #[schema(
        max_length = 64,
        pattern = r"^(apr_[A-Za-z0-9_]{0,60})?$",
        example = "apr_a1b2c3d4e5f6g7h8"
    )]
    pub approval_id: Option<String>,
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

/// A token request a policy held for approval (202): no token yet.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeldTokenBody {
    /// Always `pending`.
    #[schema(example = "pending")]
    pub status: String,
    /// The approval to decide (`POST /v1/approvals/{id}/approve` or `/deny`); once approved, repeat
    /// the request with this `approval_id` to get the token, once.
    #[schema(example = "apr_a1b2c3d4e5f6g7h8")]
    pub approval_id: String,
    pub agent_id: String,
    pub scope: Vec<String>,
    pub target_service: String,
    /// The approval expires then if nobody decides.
    pub expires_at: DateTime<Utc>,
    /// The held request's decision, also in the `approval.requested` audit entry.
    pub decision_id: String,
}

/// Issue an agent token
///
/// Authenticate with the account's API key, or as the agent with its own secret key (`sk_live_…`).
/// The account's active policies decide: allow (201 with the token), deny (403 naming the policy
/// and rule), throttle (429 with `Retry-After` once the window's budget is spent) or
/// require_approval (202 with an approval id). If the policies cannot be consulted the request is
/// refused with 503, never allowed.
#[utoipa::path(
    post,
    path = "/v1/tokens",
    tag = "tokens",
    request_body(content = IssueTokenBody, content_type = "application/json"),
    responses(
        (status = 402, response = r::PlanLimit),
        (status = 201, description = "The token", body = IssuedTokenBody,
            links(
                ("VerifyToken" = (operation_id = "verify_token", request_body = json!({"token": "$response.body#/token"}),
                    description = "Check the token")),
                ("DelegateToken" = (operation_id = "delegate_token", request_body = json!({"token": "$response.body#/token"}),
                    description = "Delegate the token to a sub-agent")),
                ("RevokeToken" = (operation_id = "revoke_token", request_body = json!({"token": "$response.body#/token"}),
                    description = "Revoke the token")),
            )),
        (status = 202, description = "Held for approval by a policy: no token yet", body = HeldTokenBody,
            links(
                ("GetApproval" = (operation_id = "get_approval", parameters(("id" = "$response.body#/approval_id")),
                    description = "The held request")),
                ("ApproveApproval" = (operation_id = "approve_approval", parameters(("id" = "$response.body#/approval_id")),
                    description = "Approve the held request")),
                ("DenyApproval" = (operation_id = "deny_approval", parameters(("id" = "$response.body#/approval_id")),
                    description = "Deny the held request")),
            )),
        (status = 403, response = r::Forbidden),
        (status = 404, response = r::NotFound),
        (status = 422, response = r::Unprocessable),
        r::Authenticated,
        r::JsonBody,
    )
)]
pub(crate) async fn issue_token(
    State(state): State<AppState>,
    requester: TokenRequester,
    ValidJson(body): ValidJson<IssueTokenBody>,
) -> Result<axum::response::Response, Problem> {
    let mut message = pb::IssueTokenRequest {
        agent_id: body.agent_id,
        scope: body.scope,
        ttl: body.ttl,
        target_service: body.target_service.unwrap_or_default(),
        intent: body.intent.unwrap_or_default(),
        agent_secret: String::new(),
        approval_id: body.approval_id.unwrap_or_default(),
    };
    let request = match requester {
        TokenRequester::Account(principal) => principal.grpc_request(message),
        TokenRequester::Agent(secret) => {
            message.agent_secret = secret;
            tonic::Request::new(message)
        }
    };
    let issued = state.agent_token.clone().issue_token(request).await?.into_inner();
    issued_or_held(issued)
}

/// 201 with the token, or 202 when a policy held the request for approval.
fn issued_or_held(issued: pb::IssueTokenResponse) -> Result<axum::response::Response, Problem> {
    if !issued.approval_id.is_empty() {
        let expires_at = super::time_from_ms(issued.approval_expires_at_ms)
            .ok_or_else(|| Problem::internal(&"an approval without a valid expiry"))?;
        let held = HeldTokenBody {
            status: "pending".to_owned(),
            approval_id: issued.approval_id,
            agent_id: issued.agent_id,
            scope: issued.scope,
            target_service: issued.audience,
            expires_at,
            decision_id: issued.decision_id,
        };
        return Ok((StatusCode::ACCEPTED, Json(held)).into_response());
    }
    Ok((StatusCode::CREATED, Json(issued_body(issued)?)).into_response())
}

/// The keys that sign agent tokens
///
/// A JSON Web Key Set (RFC 7517, OKP/Ed25519 keys per RFC 8037). New keys appear here before they
/// sign; retired keys stay until the last token they signed has expired. Only token keys: the audit
/// checkpoint keys are published apart, at `/v1/audit/checkpoints/jwks.json`.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "tokens",
    responses(
        (status = 200, description = "The JWKS", content_type = "application/json", body = Object,
            headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
        r::ServiceCall,
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
        // Token keys alone: a verifier trusting every key here must never trust one that signs
        // something else (the audit checkpoint keys have their own set).
        response.jwks_json,
    ))
}

/// A token to check, and what it must grant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyTokenBody {
    pub token: String,
    /// Scopes the token must cover. Default: none.
    #[serde(default)]
    pub required_scope: Vec<String>,
    /// The service checking the token: it must be the token's audience (or the token is for `any`).
    pub audience: Option<String>,
}

/// One token of a batch: the token alone, or with its requirements.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum BatchItem {
    Token(String),
    Check(VerifyTokenBody),
}

/// Up to 100 tokens.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBatchBody {
    /// 1 to 100 tokens.
    #[schema(min_items = 1, max_items = 100)]
    pub tokens: Vec<BatchItem>,
}

/// The verdict on one token.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerdictBody {
    pub valid: bool,
    /// Why not: `malformed`, `unsupported_algorithm`, `unknown_key`, `bad_signature`, `expired`,
    /// `not_yet_valid`, `wrong_audience`, `insufficient_scope`, `token_revoked`, `agent_revoked`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Every claim of a valid token.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub claims: Option<serde_json::Value>,
}

/// The verdicts, in the order of the tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerdictList {
    pub results: Vec<VerdictBody>,
}

const MAX_BATCH: usize = 100;

fn verdict_body(verdict: Verdict) -> VerdictBody {
    match verdict {
        Ok(claims) => VerdictBody {
            valid: true,
            reason: None,
            agent_id: Some(claims.sub.clone()),
            scope: Some(claims.scope.clone()),
            expires_at: DateTime::from_timestamp(claims.exp, 0),
            claims: serde_json::to_value(&claims).ok(),
        },
        Err(reason) => VerdictBody {
            valid: false,
            reason: Some(reason.as_str().to_owned()),
            agent_id: None,
            scope: None,
            expires_at: None,
            claims: None,
        },
    }
}

/// Verifies one token in this process (see `token_verifier`); 503 while the verifier is not ready.
async fn verify_here(state: &AppState, check: &VerifyTokenBody) -> Result<VerdictBody, Problem> {
    let requirements = Requirements {
        audience: check.audience.as_deref().filter(|audience| !audience.is_empty()),
        scope: &check.required_scope,
    };
    let verdict = state
        .tokens
        .verify(&check.token, &requirements)
        .await
        .ok_or_else(|| Problem(latchkey_errors::ApiError::unavailable()))?;
    Ok(verdict_body(verdict))
}

/// Verify an agent token
///
/// Signature, time, audience, required scope and revocation, checked in the gateway with keys and
/// revocations held in memory: no database lookup, no call to another service. Needs no
/// authentication: it is meant for the services that receive agent tokens.
#[utoipa::path(
    post,
    path = "/v1/tokens/verify",
    tag = "tokens",
    request_body(content = VerifyTokenBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The verdict: `valid`, or not with a `reason`", body = VerdictBody),
        r::JsonBody,
        r::ServiceCall,
    )
)]
pub(crate) async fn verify_token(
    State(state): State<AppState>,
    ValidJson(body): ValidJson<VerifyTokenBody>,
) -> Result<Json<VerdictBody>, Problem> {
    Ok(Json(verify_here(&state, &body).await?))
}

/// Verify up to 100 agent tokens
#[utoipa::path(
    post,
    path = "/v1/tokens/verify/batch",
    tag = "tokens",
    request_body(content = VerifyBatchBody, content_type = "application/json"),
    responses(
        (status = 200, description = "One verdict per token, in order", body = VerdictList),
        r::JsonBody,
        r::ServiceCall,
    )
)]
pub(crate) async fn verify_batch(
    State(state): State<AppState>,
    ValidJson(body): ValidJson<VerifyBatchBody>,
) -> Result<Json<VerdictList>, Problem> {
    if body.tokens.is_empty() || body.tokens.len() > MAX_BATCH {
        let error = latchkey_errors::FieldError::new("tokens", "must hold 1 to 100 tokens");
        return Err(Problem(latchkey_errors::ApiError::validation(vec![error])));
    }
    let mut results = Vec::with_capacity(body.tokens.len());
    for item in body.tokens {
        let check = match item {
            BatchItem::Token(token) => VerifyTokenBody {
                token,
                required_scope: Vec::new(),
                audience: None,
            },
            BatchItem::Check(check) => check,
        };
        results.push(verify_here(&state, &check).await?);
    }
    Ok(Json(VerdictList { results }))
}

/// The token to revoke.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeTokenBody {
    pub token: String,
}

/// A revoked token.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedTokenBody {
    pub revoked: bool,
    pub token_id: String,
    /// When the token would have expired anyway.
    pub expires_at: DateTime<Utc>,
}

/// Revoke an agent token
///
/// Every verifier rejects it from now on (within a second on every instance).
#[utoipa::path(
    post,
    path = "/v1/tokens/revoke",
    tag = "tokens",
    request_body(content = RevokeTokenBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Revoked", body = RevokedTokenBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
        r::JsonBody,
    )
)]
pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<RevokeTokenBody>,
) -> Result<Json<RevokedTokenBody>, Problem> {
    let request = principal.grpc_request(pb::RevokeTokenRequest { token: body.token });
    let revoked = state.agent_token.clone().revoke_token(request).await?.into_inner();
    let expires_at = DateTime::from_timestamp(revoked.expires_at, 0)
        .ok_or_else(|| Problem::internal(&"agent-token answered an invalid expiry"))?;
    // The revocation event reaches every verifier shortly; this gateway's rejects the token now.
    state.tokens.revoked_now(&revoked.jti, revoked.expires_at);
    Ok(Json(RevokedTokenBody {
        revoked: true,
        token_id: revoked.jti,
        expires_at,
    }))
}

/// A delegation: the holder's token, and the narrower grant it asks for a sub-agent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DelegateTokenBody {
    /// The delegating token: it is the credential, no API key needed.
    pub token: String,
    /// Within the delegating token's scope: 1 to 50 scopes, written as for `POST /v1/tokens`.
    #[schema(
        min_items = 1,
        max_items = 50,
        min_length = 1,
        max_length = 128,
        pattern = r"^(\*|[A-Za-z0-9_:-]+(\.[A-Za-z0-9_:-]+)*(\.\*)?)$"
    )]
    pub scope: Vec<String>,
    /// Seconds, within what remains of the delegating token. Default: 300 or what remains.
    #[schema(minimum = 1, maximum = 86400)]
    pub ttl: Option<i64>,
    /// The agent (of the same account) the new token is for.
    pub sub_agent: String,
    /// The same audience as the delegating token, or a specific one if that was `any`; written as
    /// for `POST /v1/tokens`.
    #[schema(max_length = 128, pattern = r"^[^\s*\u0000-\u001f\u007f-\u009f]*$")]
    pub target_service: Option<String>,
}

/// Delegate a token to a sub-agent
///
/// Exchanges a valid token for one with a narrower scope, a lifetime within the delegating token's
/// and a named sub-agent (never the delegating agent itself, nor one already in its chain); the new
/// token's `act` claim records who delegated. Never wider. Revoking the delegating token revokes
/// the delegated one too. A delegation is a token issue for the sub-agent: the account's policies
/// decide it (403 deny, 429 throttle or rate limit, 202 held for approval: redeem it at
/// `POST /v1/tokens` for the sub-agent with the approval id).
#[utoipa::path(
    post,
    path = "/v1/tokens/delegate",
    tag = "tokens",
    request_body(content = DelegateTokenBody, content_type = "application/json"),
    responses(
        (status = 402, response = r::PlanLimit),
        (status = 201, description = "The delegated token", body = IssuedTokenBody),
        (status = 202, description = "Held for approval by a policy: no token yet", body = HeldTokenBody),
        (status = 401, response = r::Unauthorized),
        (status = 403, response = r::Forbidden),
        (status = 404, response = r::NotFound),
        (status = 429, response = r::RateLimited),
        r::JsonBody,
        r::ServiceCall,
    )
)]
pub(crate) async fn delegate_token(
    State(state): State<AppState>,
    ValidJson(body): ValidJson<DelegateTokenBody>,
) -> Result<axum::response::Response, Problem> {
    let request = tonic::Request::new(pb::DelegateTokenRequest {
        token: body.token,
        scope: body.scope,
        ttl: body.ttl,
        sub_agent: body.sub_agent,
        target_service: body.target_service.unwrap_or_default(),
    });
    let issued = state.agent_token.clone().delegate_token(request).await?.into_inner();
    issued_or_held(issued)
}

fn issued_body(issued: pb::IssueTokenResponse) -> Result<IssuedTokenBody, Problem> {
    let expires_at = DateTime::from_timestamp(issued.expires_at, 0)
        .ok_or_else(|| Problem::internal(&"agent-token answered an invalid expiry"))?;
    Ok(IssuedTokenBody {
        token: issued.token,
        agent_id: issued.agent_id,
        scope: issued.scope,
        expires_at,
        token_id: issued.jti,
        target_service: issued.audience,
        decision_id: issued.decision_id,
    })
}
