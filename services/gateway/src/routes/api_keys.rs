//! `POST/GET /v1/api-keys`, `DELETE /v1/api-keys/{id}`: the account's API keys, through agent-token.

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, StatusCode, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use latchkey_errors::{ApiError, FieldError};
use latchkey_ids::ApiKeyId;
use latchkey_proto::agent_token::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    id_path::IdPath, json::ValidJson, openapi::responses as r, principal::Principal, problem::Problem,
    routes::time_from_ms, state::AppState,
};

const DEFAULT_NAME: &str = "default";
const MAX_NAME_CHARS: usize = 100;

/// A new key's settings. The body may be left out entirely.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CreateApiKeyBody {
    /// A name to tell keys apart, 1 to 100 characters, not blank, without control characters.
    /// Default `default`.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        example = "ci"
    )]
    pub name: Option<String>,
}

/// A key just created. `key` is the whole secret: shown this once, never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKeyBody {
    #[schema(example = "key_01JDX3Q4ZK7M2N5P8R9S0T1V2W")]
    pub id: String,
    pub name: String,
    /// The full API key. Store it now: Latchkey keeps only a hash.
    #[schema(example = "lk_live_8f3kQ2mX9vB7nL4pR6tY1wZ0cJ5hG2dA")]
    pub key: String,
    #[schema(example = "lk_live_")]
    pub prefix: String,
    #[schema(example = "G2dA")]
    pub last4: String,
    pub created_at: DateTime<Utc>,
}

/// A key as listed: never the secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeySummary {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub last4: String,
    /// The key with its middle hidden, e.g. `lk_live_…G2dA`.
    #[schema(example = "lk_live_…G2dA")]
    pub masked_key: String,
    pub created_at: DateTime<Utc>,
    /// When the key last authenticated a request; `null` if never.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The account's keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub data: Vec<ApiKeySummary>,
}

/// Create an API key
#[utoipa::path(
    post,
    path = "/v1/api-keys",
    tag = "api-keys",
    request_body(content = Option<CreateApiKeyBody>, content_type = "application/json",
        description = "Optional: without a body the key is named `default`"),
    responses(
        (status = 402, response = r::PlanLimit),
        (status = 201, description = "The key; its secret is shown only now", body = CreatedApiKeyBody),
        r::Authenticated,
        r::JsonBody,
    )
)]
pub(crate) async fn create_api_key(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<CreateApiKeyBody>,
) -> Result<(StatusCode, Json<CreatedApiKeyBody>), Problem> {
    let name = valid_name(body.name)?;
    let request = principal.grpc_request(pb::CreateApiKeyRequest { name });
    let created = state.agent_token.clone().create_api_key(request).await?.into_inner();
    state.lists.forget(&principal.account_id);
    let Some(pb::CreatedApiKey { key: Some(key), secret }) = created.created else {
        return Err(Problem::internal(&"agent-token answered CreateApiKey without the key"));
    };
    let created_at = required_time(key.created_at_ms)?;
    let body = CreatedApiKeyBody {
        id: key.id,
        name: key.name,
        key: secret,
        prefix: key.prefix,
        last4: key.last4,
        created_at,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// List API keys (values masked)
///
/// Answered from the gateway's cache of the account's rendered page when it holds one (see
/// `list_cache`), else from agent-token.
#[utoipa::path(
    get,
    path = "/v1/api-keys",
    tag = "api-keys",
    responses(
        (status = 200, description = "The account's keys", body = ApiKeyList),
        r::Authenticated,
    )
)]
pub(crate) async fn list_api_keys(State(state): State<AppState>, principal: Principal) -> Result<Response, Problem> {
    let page = match state.lists.lookup(&principal.account_id) {
        Some(page) => page,
        None => {
            let seen_generation = state.lists.generation();
            let list = fetch_api_keys(&state, &principal).await?;
            let page = Bytes::from(serde_json::to_vec(&list).map_err(|error| Problem::internal(&error))?);
            state
                .lists
                .remember(principal.account_id.clone(), page.clone(), seen_generation);
            page
        }
    };
    Ok(([(CONTENT_TYPE, HeaderValue::from_static("application/json"))], page).into_response())
}

async fn fetch_api_keys(state: &AppState, principal: &Principal) -> Result<ApiKeyList, Problem> {
    let request = principal.grpc_request(pb::ListApiKeysRequest {});
    let keys = state
        .agent_token
        .clone()
        .list_api_keys(request)
        .await?
        .into_inner()
        .keys;
    let data = keys
        .into_iter()
        .map(|key| {
            Ok(ApiKeySummary {
                masked_key: format!("{}…{}", key.prefix, key.last4),
                created_at: required_time(key.created_at_ms)?,
                last_used_at: time_from_ms(key.last_used_at_ms),
                id: key.id,
                name: key.name,
                prefix: key.prefix,
                last4: key.last4,
            })
        })
        .collect::<Result<_, Problem>>()?;
    Ok(ApiKeyList { data })
}

/// Delete an API key
///
/// The key stops working at once, on every gateway.
#[utoipa::path(
    delete,
    path = "/v1/api-keys/{id}",
    tag = "api-keys",
    params(("id" = String, Path, description = "The key's id, e.g. `key_…`")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn delete_api_key(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath<ApiKeyId>,
) -> Result<StatusCode, Problem> {
    let request = principal.grpc_request(pb::DeleteApiKeyRequest { id: id.to_string() });
    state.agent_token.clone().delete_api_key(request).await?;
    // The deletion event reaches every gateway shortly; this one forgets the key now, so the
    // caller's next request already sees it gone.
    state.keys.forget_key(id.as_str());
    state.lists.forget(&principal.account_id);
    Ok(StatusCode::NO_CONTENT)
}

fn valid_name(name: Option<String>) -> Result<String, Problem> {
    let Some(name) = name else {
        return Ok(DEFAULT_NAME.to_owned());
    };
    let problem = |message: &str| Problem(ApiError::validation(vec![FieldError::new("name", message)]));
    if name.trim().is_empty() {
        return Err(problem("must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(problem("must be at most 100 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(problem("must not contain control characters"));
    }
    Ok(name)
}

fn required_time(ms: i64) -> Result<DateTime<Utc>, Problem> {
    time_from_ms(ms).ok_or_else(|| Problem::internal(&format_args!("agent-token sent an invalid timestamp {ms}")))
}
