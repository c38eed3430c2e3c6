//! `/v1/audit`: the account's hash-chained audit log through the audit service: a page at a time with
//! filters, a streamed export, verification, signed checkpoints; and `/api/service/analytics`.

mod analytics;
mod checkpoints;
mod export;

pub(crate) use analytics::*;
pub(crate) use checkpoints::*;
pub(crate) use export::*;

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use latchkey_errors::{ApiError, FieldError};
use latchkey_events::EventType;
use latchkey_proto::audit::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    openapi::responses as r, principal::Principal, problem::Problem, query::ValidQuery,
    routes::constraints::EventTypeFilter, routes::time_from_ms, state::AppState,
};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

/// Which entries to list. Unknown parameters are refused, so a misspelt filter cannot silently
/// return everything.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries of this event type, e.g. `api_key.created`, or of every type under a prefix,
    /// e.g. `token.*`.
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<EventTypeFilter>, example = "api_key.created")]
    pub event_type: Option<String>,
    /// Only entries caused by this actor: an API key id, an agent id or `system`. Up to 200 bytes.
    #[param(max_length = 200)]
    pub actor: Option<String>,
    /// Only entries about this resource. Up to 200 bytes.
    #[param(max_length = 200)]
    pub subject: Option<String>,
    /// Only entries an agent caused or that are about it (its id as actor or subject). Up to 200
    /// bytes.
    #[param(max_length = 200)]
    pub agent: Option<String>,
    /// Only entries at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime, example = "2026-01-01T00:00:00Z")]
    pub from: Option<String>,
    /// Only entries before this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<String>,
    /// The previous page's `next_cursor`; leave out for the first page.
    #[param(pattern = r"^(\+?0*[1-9][0-9]{0,17})?$")]
    pub cursor: Option<String>,
    /// Entries per page, 1 to 500. Default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `desc` or `newest` (default): newest first; `asc` or `oldest`: oldest first.
    #[param(inline)]
    pub order: Option<AuditOrder>,
}

/// The order entries are listed in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditOrder {
    #[serde(alias = "oldest")]
    Asc,
    #[default]
    #[serde(alias = "newest")]
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
        r::Authenticated,
    )
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

fn invalid(field: &str, message: &str) -> Problem {
    Problem(ApiError::validation(vec![FieldError::new(field, message)]))
}

/// An event type, or a prefix pattern such as `token.*` (a known type's first segment, or deeper).
fn type_filter(event_type: Option<String>) -> Result<String, Problem> {
    let Some(event_type) = event_type.filter(|t| !t.is_empty()) else {
        return Ok(String::new());
    };
    let known = match event_type.strip_suffix(".*") {
        Some(prefix) => {
            let prefix = format!("{prefix}.");
            !prefix.starts_with('.') && EventType::ALL.iter().any(|known| known.as_str().starts_with(&prefix))
        }
        None => EventType::parse(&event_type).is_some(),
    };
    if known {
        Ok(event_type)
    } else {
        Err(invalid(
            "type",
            "is not a Latchkey event type, nor a prefix of one such as `token.*`",
        ))
    }
}

/// An RFC 3339 time as Unix milliseconds.
pub(crate) fn time_param(field: &str, value: Option<String>) -> Result<Option<i64>, Problem> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(value) => DateTime::parse_from_rfc3339(&value)
            .map(|time| Some(time.timestamp_millis()))
            .map_err(|_| invalid(field, "must be an RFC 3339 time, e.g. 2026-01-01T00:00:00Z")),
    }
}

fn list_request(query: AuditQuery) -> Result<pb::ListEntriesRequest, Problem> {
    let event_type = type_filter(query.event_type)?;
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
    let from_ms = time_param("from", query.from)?;
    let to_ms = time_param("to", query.to)?;
    if let (Some(from), Some(to)) = (from_ms, to_ms)
        && from >= to
    {
        return Err(invalid("to", "must be after `from`"));
    }
    let text = |field: &str, value: Option<String>| -> Result<String, Problem> {
        match value {
            Some(value) if value.len() > 200 => Err(invalid(field, "must be at most 200 characters")),
            value => Ok(value.unwrap_or_default()),
        }
    };
    Ok(pb::ListEntriesRequest {
        r#type: event_type,
        cursor,
        limit,
        newest_first: query.order.unwrap_or_default() == AuditOrder::Desc,
        actor: text("actor", query.actor)?,
        subject: text("subject", query.subject)?,
        agent: text("agent", query.agent)?,
        // A bound at the epoch itself is no bound; the wire uses 0 for none.
        from_ms: from_ms.unwrap_or_default(),
        to_ms: to_ms.unwrap_or_default(),
    })
}

pub(crate) fn entry_body(entry: pb::AuditEntry) -> Result<AuditEntryBody, Problem> {
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
