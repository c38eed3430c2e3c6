//! `/v1/connections/telegram`: the account's Telegram MTProto session (session string, api id, api
//! hash), sealed in the vault by the oauth service. `POST /tokens/fetch {"provider":"telegram"}`
//! answers it (Akhrot seed 001: `accessToken` is the session string, with `apiId`, `apiHash` and
//! `type: "mtproto"`); these routes answer a masked summary only.

use axum::{Json, extract::State, http::StatusCode};
use latchkey_errors::{ApiError, FieldError};
use latchkey_proto::oauth::v1 as pb;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        RefOr,
        schema::{ObjectBuilder, OneOfBuilder, Schema, Type},
    },
};
use zeroize::Zeroizing;

use super::iso_ms;
use crate::{json::ValidJson, openapi::responses as r, principal::Principal, problem::Problem, state::AppState};

const PROVIDER: &str = "telegram";

/// Telegram's api id: a number, or its digits as a string.
pub(crate) struct ApiIdValue;

impl PartialSchema for ApiIdValue {
    fn schema() -> RefOr<Schema> {
        let number = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(2_147_483_647));
        let digits = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^0*[1-9][0-9]{0,9}$"))
            .max_length(Some(10));
        RefOr::T(Schema::OneOf(
            OneOfBuilder::new()
                .item(number)
                .item(digits)
                .description(Some(
                    "Telegram's api_id (my.telegram.org): 1 to 2147483647, as a number or its digits",
                ))
                .build(),
        ))
    }
}

impl ToSchema for ApiIdValue {}

/// A Telegram session to keep. `Debug` is not derived: the body holds secrets.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TelegramSessionBody {
    /// The session string as Telethon (`StringSession.save()`) or gramjs saves it: printable ASCII
    /// without spaces, up to 4096 characters. Never returned by this route.
    #[schema(min_length = 1, max_length = 4096, pattern = r"^[!-~]+$")]
    pub session_string: String,
    #[schema(value_type = ApiIdValue)]
    pub api_id: Value,
    /// Telegram's api_hash: 32 hexadecimal characters. Never returned by this route.
    #[schema(min_length = 32, max_length = 32, pattern = r"^[0-9A-Fa-f]{32}$")]
    pub api_hash: String,
}

/// The stored session, masked.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TelegramSessionSummary {
    #[schema(example = "telegram")]
    pub provider: String,
    /// Always `mtproto`.
    #[serde(rename = "type")]
    #[schema(example = "mtproto")]
    pub kind: &'static str,
    pub api_id: String,
    /// The api hash's last four characters; the session string is never shown.
    pub api_hash_last4: String,
    pub has_session_string: bool,
    pub updated_at: Option<String>,
}

fn summary(session: pb::MtprotoSession) -> TelegramSessionSummary {
    TelegramSessionSummary {
        provider: session.provider,
        kind: "mtproto",
        api_id: session.api_id,
        api_hash_last4: session.api_hash_last4,
        has_session_string: true,
        updated_at: iso_ms(session.updated_at_ms),
    }
}

/// The api id as the digits the oauth service checks: a JSON number or string; anything else is
/// refused here, naming the field.
fn api_id_text(value: &Value) -> Result<String, Problem> {
    match value {
        Value::Number(number) if number.is_u64() || number.is_i64() => Ok(number.to_string()),
        Value::String(text) => Ok(text.clone()),
        _ => Err(Problem(ApiError::validation(vec![FieldError::new(
            "apiId",
            "a number (Telegram's api_id), or its digits as a string",
        )]))),
    }
}

/// Store the Telegram session
///
/// Stores (or replaces) the account's Telegram MTProto session: the session string with the api id
/// and api hash it was made with, sealed in the vault. `POST /tokens/fetch {"provider":"telegram"}`
/// then answers them. Answers a masked summary: never the session string or the api hash.
#[utoipa::path(
    put,
    path = "/v1/connections/telegram",
    tag = "oauth",
    request_body(content = TelegramSessionBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Stored", body = TelegramSessionSummary),
        r::Authenticated,
        r::JsonBody,
    )
)]
pub(crate) async fn put_telegram_session(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<TelegramSessionBody>,
) -> Result<Json<TelegramSessionSummary>, Problem> {
    // Wiped here if refused; moved into the request (whose `Debug` redacts them) otherwise.
    let mut session_string = Zeroizing::new(body.session_string);
    let mut api_hash = Zeroizing::new(body.api_hash);
    let api_id = api_id_text(&body.api_id)?;
    let request = principal.grpc_request(pb::SetMtprotoSessionRequest {
        provider: PROVIDER.to_owned(),
        session_string: std::mem::take(&mut *session_string),
        api_id,
        api_hash: std::mem::take(&mut *api_hash),
    });
    let stored = state.oauth.clone().set_mtproto_session(request).await?.into_inner();
    Ok(Json(summary(stored)))
}

/// Get the Telegram session (masked)
#[utoipa::path(
    get,
    path = "/v1/connections/telegram",
    tag = "oauth",
    responses(
        (status = 200, description = "The stored session, masked", body = TelegramSessionSummary),
        (status = 404, response = r::IntegrationNotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn get_telegram_session(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<TelegramSessionSummary>, Problem> {
    let request = principal.grpc_request(pb::GetMtprotoSessionRequest {
        provider: PROVIDER.to_owned(),
    });
    let stored = state.oauth.clone().get_mtproto_session(request).await?.into_inner();
    Ok(Json(summary(stored)))
}

/// Remove the Telegram session
#[utoipa::path(
    delete,
    path = "/v1/connections/telegram",
    tag = "oauth",
    responses(
        (status = 204, description = "Removed"),
        (status = 404, response = r::IntegrationNotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn delete_telegram_session(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<StatusCode, Problem> {
    let request = principal.grpc_request(pb::DeleteMtprotoSessionRequest {
        provider: PROVIDER.to_owned(),
    });
    state.oauth.clone().delete_mtproto_session(request).await?;
    Ok(StatusCode::NO_CONTENT)
}
