//! `GET /v1/audit`: the account's hash-chained audit log, a page at a time, through the audit service.

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use latchkey_errors::{ApiError, FieldError};
use latchkey_events::EventType;
use latchkey_proto::audit::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    auth::Principal, openapi::responses as r, problem::Problem, query::ValidQuery, routes::time_from_ms,
    state::AppState,
};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

/// Which entries to list. Unknown parameters are refused, so a misspelt filter cannot silently
/// return everything.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries of this event type, e.g. `api_key.created`.
    #[serde(rename = "type")]
    #[param(rename = "type", example = "api_key.created")]
    pub event_type: Option<String>,
    /// The previous page's `next_cursor`; leave out for the first page.
    pub cursor: Option<String>,
    /// Entries per page, 1 to 500. Default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `desc` (default): newest first; `asc`: oldest first.
    #[param(inline)]
    pub order: Option<AuditOrder>,
}

/// The order entries are listed in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditOrder {
    Asc,
    #[default]
    Desc,
}

/// One link of the account's audit chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryBody {
    /// Position in the account's chain, from 1.
    pub seq: i64,
    /// The id of the event this entry records.
    pub event_id: String,
    /// The event type, e.g. `api_key.deleted`.
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub event_type: String,
    pub time: DateTime<Utc>,
    /// Who caused it: an API key id, an agent id or `system`.
    pub actor: Option<String>,
    /// The resource the event is about.
    pub subject: Option<String>,
    /// The policy decision the event records, if any.
    pub decision_id: Option<String>,
    /// The event's data.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// The previous entry's `hash` (the chain's fixed starting value for the first entry).
    pub prev_hash: String,
    /// SHA-256 over this entry and `prev_hash`, hex.
    pub hash: String,
}

/// A page of audit entries.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub data: Vec<AuditEntryBody>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// List audit entries
#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of entries", body = AuditPage),
        (status = 400, response = r::BadRequest),
        (status = 401, response = r::Unauthorized),
        (status = 429, response = r::RateLimited),
        (status = 500, response = r::InternalError),
        (status = 503, response = r::Unavailable),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn list_audit_entries(
    State(state): State<AppState>,
    principal: Principal,
    ValidQuery(query): ValidQuery<AuditQuery>,
) -> Result<Json<AuditPage>, Problem> {
    let request = principal.grpc_request(list_request(query)?);
    let page = state.audit.clone().list_entries(request).await?.into_inner();
    let data = page
        .entries
        .into_iter()
        .map(entry_body)
        .collect::<Result<_, Problem>>()?;
    let next_cursor = (page.next_cursor > 0).then(|| page.next_cursor.to_string());
    Ok(Json(AuditPage { data, next_cursor }))
}

fn list_request(query: AuditQuery) -> Result<pb::ListEntriesRequest, Problem> {
    let invalid = |field: &str, message: &str| Problem(ApiError::validation(vec![FieldError::new(field, message)]));
    let event_type = query.event_type.filter(|t| !t.is_empty()).unwrap_or_default();
    if !event_type.is_empty() && EventType::parse(&event_type).is_none() {
        return Err(invalid("type", "is not a Latchkey event type"));
    }
    let cursor = match query.cursor.filter(|c| !c.is_empty()) {
        None => 0,
        Some(cursor) => match cursor.parse::<i64>() {
            Ok(seq) if seq > 0 => seq,
            _ => return Err(invalid("cursor", "is not a cursor this API returned")),
        },
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(invalid("limit", "must be between 1 and 500"));
    }
    Ok(pb::ListEntriesRequest {
        r#type: event_type,
        cursor,
        limit,
        newest_first: query.order.unwrap_or_default() == AuditOrder::Desc,
    })
}

fn entry_body(entry: pb::AuditEntry) -> Result<AuditEntryBody, Problem> {
    let time = time_from_ms(entry.time_ms)
        .ok_or_else(|| Problem::internal(&format_args!("audit entry {} has no time", entry.seq)))?;
    let data = serde_json::from_str(&entry.data_json)
        .map_err(|error| Problem::internal(&format_args!("audit entry {} has unreadable data: {error}", entry.seq)))?;
    let present = |s: String| (!s.is_empty()).then_some(s);
    Ok(AuditEntryBody {
        seq: entry.seq,
        event_id: entry.event_id,
        event_type: entry.r#type,
        time,
        actor: present(entry.actor),
        subject: present(entry.subject),
        decision_id: present(entry.decision_id),
        data,
        prev_hash: entry.prev_hash,
        hash: entry.hash,
    })
}
