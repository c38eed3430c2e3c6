//! `GET /v1/audit/verify` and the signed checkpoints: `GET /v1/audit/checkpoints`,
//! `GET /v1/audit/checkpoints/latest`, `POST /v1/audit/checkpoints`, and the keys that sign them,
//! `GET /v1/audit/checkpoints/jwks.json`.

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};
use chrono::{DateTime, Utc};
use latchkey_errors::{ApiError, ErrorCode};
use latchkey_proto::audit::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::invalid;
use crate::{
    openapi::responses as r, principal::Principal, problem::Problem, query::ValidQuery, routes::time_from_ms,
    state::AppState,
};

/// The head a verification reached.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChainHead {
    /// The last entry that verified (0 for an empty chain).
    pub seq: i64,
    /// Its hash (64 zeros for an empty chain).
    pub hash: String,
}

/// The outcome of recomputing the account's chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationBody {
    /// Every entry recomputes and links to the one before, and no kept checkpoint is contradicted.
    pub valid: bool,
    pub entries_checked: i64,
    /// The first entry whose link or hash does not hold; `null` when none.
    pub first_broken_seq: Option<i64>,
    pub head: ChainHead,
    /// How many of the service's signed checkpoints the chain was compared with.
    pub checkpoints_checked: i64,
    /// The first checkpoint whose hash the chain no longer has at its seq (a rewritten history);
    /// `null` when none.
    pub first_contradicted_checkpoint_seq: Option<i64>,
}

/// Verify the audit chain
///
/// Recomputes every entry's hash from the first and compares the chain with every checkpoint the
/// audit service signed for it. To check against a checkpoint you kept yourself, use
/// `latchkey audit verify --checkpoint`.
#[utoipa::path(
    get,
    path = "/v1/audit/verify",
    tag = "audit",
    responses(
        (status = 200, description = "The verification", body = VerificationBody),
        r::Authenticated,
    )
)]
pub(crate) async fn verify_audit_chain(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<VerificationBody>, Problem> {
    let request = principal.grpc_request(pb::VerifyChainRequest {});
    let answer = state.audit.clone().verify_chain(request).await?.into_inner();
    let present = |seq: i64| (seq > 0).then_some(seq);
    Ok(Json(VerificationBody {
        valid: answer.valid,
        entries_checked: answer.entries_checked,
        first_broken_seq: present(answer.first_broken_seq),
        head: ChainHead {
            seq: answer.head_seq,
            hash: answer.head_hash,
        },
        checkpoints_checked: answer.checkpoints_checked,
        first_contradicted_checkpoint_seq: present(answer.first_contradicted_checkpoint_seq),
    }))
}

/// A signed statement that the account's chain had `hash` at `seq` at `time`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckpointBody {
    pub account_id: String,
    pub seq: i64,
    pub hash: String,
    pub time: DateTime<Utc>,
    /// The signed instant, Unix milliseconds.
    pub time_ms: i64,
    /// The signing key in `/v1/audit/checkpoints/jwks.json`.
    pub kid: String,
    /// Ed25519 over the checkpoint's signing input (docs/audit.md), base64url without padding.
    pub signature: String,
}

fn checkpoint_body(checkpoint: pb::Checkpoint) -> Result<CheckpointBody, Problem> {
    let time = time_from_ms(checkpoint.time_ms)
        .ok_or_else(|| Problem::internal(&format_args!("checkpoint {} has no time", checkpoint.seq)))?;
    Ok(CheckpointBody {
        account_id: checkpoint.account_id,
        seq: checkpoint.seq,
        hash: checkpoint.hash,
        time,
        time_ms: checkpoint.time_ms,
        kid: checkpoint.kid,
        signature: checkpoint.signature,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckpointQuery {
    /// The previous page's `next_cursor`.
    #[param(pattern = r"^(\+?0*[1-9][0-9]{0,17})?$")]
    pub cursor: Option<String>,
    /// Checkpoints per page, 1 to 500. Default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// A page of checkpoints, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointPage {
    pub data: Vec<CheckpointBody>,
    pub next_cursor: Option<String>,
}

/// List signed checkpoints
///
/// The audit service signs the head of every chain that moved, periodically (every minute by
/// default). Keep one outside Latchkey: a later history that contradicts it was rewritten.
#[utoipa::path(
    get,
    path = "/v1/audit/checkpoints",
    tag = "audit",
    params(CheckpointQuery),
    responses(
        (status = 200, description = "A page of checkpoints, newest first", body = CheckpointPage),
        (status = 400, response = r::BadRequest),
        r::Authenticated,
    )
)]
pub(crate) async fn list_checkpoints(
    State(state): State<AppState>,
    principal: Principal,
    ValidQuery(query): ValidQuery<CheckpointQuery>,
) -> Result<Json<CheckpointPage>, Problem> {
    let cursor = match query.cursor.filter(|c| !c.is_empty()) {
        None => 0,
        Some(cursor) => match cursor.parse::<i64>() {
            Ok(seq) if seq > 0 => seq,
            _ => return Err(invalid("cursor", "is not a cursor this API returned")),
        },
    };
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(invalid("limit", "must be between 1 and 500"));
    }
    let request = principal.grpc_request(pb::ListCheckpointsRequest { limit, cursor });
    let page = state.audit.clone().list_checkpoints(request).await?.into_inner();
    Ok(Json(CheckpointPage {
        data: page
            .checkpoints
            .into_iter()
            .map(checkpoint_body)
            .collect::<Result<_, _>>()?,
        next_cursor: (page.next_cursor > 0).then(|| page.next_cursor.to_string()),
    }))
}

/// The latest signed checkpoint
#[utoipa::path(
    get,
    path = "/v1/audit/checkpoints/latest",
    tag = "audit",
    responses(
        (status = 200, description = "The newest checkpoint", body = CheckpointBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn latest_checkpoint(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<CheckpointBody>, Problem> {
    let request = principal.grpc_request(pb::ListCheckpointsRequest { limit: 1, cursor: 0 });
    let page = state.audit.clone().list_checkpoints(request).await?.into_inner();
    let latest = page.checkpoints.into_iter().next().ok_or_else(|| {
        Problem(ApiError::new(
            ErrorCode::NotFound,
            "no checkpoint yet: one is signed within a minute of the first entry, or at once with POST /v1/audit/checkpoints",
        ))
    })?;
    Ok(Json(checkpoint_body(latest)?))
}

/// Sign a checkpoint now
///
/// Signs the head of the account's chain now, if it moved since the last checkpoint, and answers
/// the latest checkpoint: e.g. right before an export, to keep alongside it.
#[utoipa::path(
    post,
    path = "/v1/audit/checkpoints",
    tag = "audit",
    responses(
        (status = 201, description = "The latest checkpoint, covering the current head", body = CheckpointBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn sign_checkpoint(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<(StatusCode, Json<CheckpointBody>), Problem> {
    let request = principal.grpc_request(pb::SignCheckpointRequest {});
    let checkpoint = state.audit.clone().sign_checkpoint(request).await?.into_inner();
    Ok((StatusCode::CREATED, Json(checkpoint_body(checkpoint)?)))
}

/// The keys that sign audit checkpoints
///
/// A JSON Web Key Set (RFC 7517, OKP/Ed25519 keys per RFC 8037, kids `audit-…`) of every key the
/// audit service has signed checkpoints with, to check a kept checkpoint's signature (`latchkey
/// audit verify --checkpoint`). Published apart from the token keys of `/.well-known/jwks.json`, so
/// a token verifier never trusts a key that signs checkpoints. The same for every account: no
/// authentication.
#[utoipa::path(
    get,
    path = "/v1/audit/checkpoints/jwks.json",
    tag = "audit",
    responses(
        (status = 200, description = "The checkpoint keys", content_type = "application/json", body = Object,
            headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
        r::ServiceCall,
    )
)]
pub(crate) async fn checkpoint_jwks(State(state): State<AppState>) -> Result<impl IntoResponse, Problem> {
    let answer = state
        .audit
        .clone()
        .get_checkpoint_keys(tonic::Request::new(pb::GetCheckpointKeysRequest {}))
        .await?
        .into_inner();
    let keys: Vec<serde_json::Value> = serde_json::from_str(&answer.keys_json)
        .map_err(|error| Problem::internal(&format_args!("unreadable checkpoint keys: {error}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        serde_json::json!({ "keys": keys }).to_string(),
    ))
}
