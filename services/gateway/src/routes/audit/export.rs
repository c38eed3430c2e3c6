//! `GET /v1/audit/export?format=jsonl|json|csv`: the whole chain, streamed from the audit service's
//! server-streaming RPC to the HTTP body entry by entry (the audit service reads it a page at a time),
//! so no part of the path holds the log. `jsonl` (the default) is JSON Lines, one entry object per
//! line; `json` is one JSON document `{"entries": [...]}` whose array is written as the entries
//! arrive (one per line); `csv` has a header row.

use axum::{
    body::{Body, Bytes},
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use latchkey_proto::audit::v1 as pb;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::{openapi::responses as r, principal::Principal, problem::Problem, query::ValidQuery, state::AppState};

/// The CSV header: the columns of every exported row.
pub const CSV_COLUMNS: &str = "account_id,seq,event_id,type,time,time_ms,actor,subject,decision_id,data,prev_hash,hash";

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `jsonl` (JSON Lines, the default), `json` (one JSON document `{"entries": [...]}`) or `csv`.
    #[param(inline)]
    pub format: Option<ExportFormat>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// JSON Lines: one entry object per line (`application/x-ndjson`).
    #[default]
    Jsonl,
    /// One JSON document, `{"entries": [...]}` (`application/json`).
    Json,
    /// A header row, then one row per entry (`text/csv`).
    Csv,
}

/// The document `format=json` answers: every entry of the chain, oldest first.
#[allow(dead_code, reason = "never constructed: only its OpenAPI schema is used")]
#[derive(Debug, ToSchema)]
pub struct ExportDocument {
    pub entries: Vec<ExportedEntry>,
}

/// One exported entry: every hashed field exactly as hashed (empty strings stay empty strings), and
/// the hashes, so the file verifies with no server (docs/audit.md). Described for the OpenAPI
/// document; the lines themselves are written by [`json_line`] without re-parsing `data`.
#[allow(dead_code, reason = "never constructed: only its OpenAPI schema is used")]
#[derive(Debug, ToSchema)]
pub struct ExportedEntry {
    pub account_id: String,
    pub seq: i64,
    pub event_id: String,
    #[schema(rename = "type")]
    pub event_type: String,
    /// RFC 3339, millisecond precision.
    pub time: String,
    /// The same instant as hashed: Unix milliseconds.
    pub time_ms: i64,
    pub actor: String,
    pub subject: String,
    pub decision_id: String,
    /// The event's data (canonical JSON).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// One entry as a JSON object, in [`ExportedEntry`]'s member order, after `prefix` and followed by
/// `suffix`. `data` is the stored canonical JSON, copied as it is.
fn json_object(entry: &pb::AuditEntry, prefix: &[u8], suffix: &[u8]) -> Bytes {
    let mut line = Vec::with_capacity(384 + entry.data_json.len());
    line.extend_from_slice(prefix);
    let text = |line: &mut Vec<u8>, name: &str, value: &str| {
        line.extend_from_slice(name.as_bytes());
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *line, value);
    };
    text(&mut line, "{\"account_id\":", &entry.account_id);
    line.extend_from_slice(format!(",\"seq\":{}", entry.seq).as_bytes());
    text(&mut line, ",\"event_id\":", &entry.event_id);
    text(&mut line, ",\"type\":", &entry.r#type);
    text(&mut line, ",\"time\":", &rfc3339_ms(entry.time_ms));
    line.extend_from_slice(format!(",\"time_ms\":{}", entry.time_ms).as_bytes());
    text(&mut line, ",\"actor\":", &entry.actor);
    text(&mut line, ",\"subject\":", &entry.subject);
    text(&mut line, ",\"decision_id\":", &entry.decision_id);
    line.extend_from_slice(b",\"data\":");
    line.extend_from_slice(if entry.data_json.is_empty() {
        b"null"
    } else {
        entry.data_json.as_bytes()
    });
    text(&mut line, ",\"prev_hash\":", &entry.prev_hash);
    text(&mut line, ",\"hash\":", &entry.hash);
    line.push(b'}');
    line.extend_from_slice(suffix);
    Bytes::from(line)
}

/// One line of JSON Lines.
fn json_line(entry: &pb::AuditEntry) -> Bytes {
    json_object(entry, b"", b"\n")
}

/// The head of the `format=json` document; its entries follow, then [`DOCUMENT_TAIL`].
const DOCUMENT_HEAD: &[u8] = b"{\"entries\":[\n";
const DOCUMENT_TAIL: &[u8] = b"\n]}\n";

/// A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break.
fn csv_field(out: &mut String, value: &str) {
    if value.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

fn csv_row(entry: &pb::AuditEntry) -> Bytes {
    let mut row = String::with_capacity(256 + entry.data_json.len());
    let seq = entry.seq.to_string();
    let time = rfc3339_ms(entry.time_ms);
    let time_ms = entry.time_ms.to_string();
    let fields: [&str; 12] = [
        &entry.account_id,
        &seq,
        &entry.event_id,
        &entry.r#type,
        &time,
        &time_ms,
        &entry.actor,
        &entry.subject,
        &entry.decision_id,
        &entry.data_json,
        &entry.prev_hash,
        &entry.hash,
    ];
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            row.push(',');
        }
        csv_field(&mut row, field);
    }
    row.push_str("\r\n");
    Bytes::from(row)
}

/// Export the audit log
///
/// The account's whole chain, oldest first, with every entry's `prev_hash` and `hash`, streamed.
/// `format=jsonl` (default) answers JSON Lines (`application/x-ndjson`: one entry object per line);
/// `format=json` one JSON document `{"entries": [...]}` (`application/json`), written as the
/// entries arrive; `format=csv` CSV with a header row. Any other format: `VALIDATION_ERROR` naming
/// `format`. Verify any of them offline with `latchkey audit verify --file`. A failure mid-stream
/// ends the response without its final chunk, so a cut export is never mistaken for a whole one.
#[utoipa::path(
    get,
    path = "/v1/audit/export",
    tag = "audit",
    params(ExportQuery),
    responses(
        (status = 200, description = "The chain, streamed", content(
            (ExportedEntry = "application/x-ndjson"),
            (ExportDocument = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, response = r::BadRequest),
        r::Authenticated,
    )
)]
pub(crate) async fn export_audit_log(
    State(state): State<AppState>,
    principal: Principal,
    ValidQuery(query): ValidQuery<ExportQuery>,
) -> Result<Response, Problem> {
    let format = query.format.unwrap_or_default();
    let request = principal.grpc_request(pb::ExportEntriesRequest {});
    let entries = state.audit.clone().export_entries(request).await?.into_inner();
    let failed = |status: tonic::Status| {
        tracing::warn!(code = ?status.code(), "the audit export failed mid-stream");
        std::io::Error::other("the audit export failed")
    };
    let (content_type, extension, body) = match format {
        ExportFormat::Jsonl => {
            let lines = entries.map(move |entry| entry.map(|entry| json_line(&entry)).map_err(failed));
            ("application/x-ndjson", "jsonl", Body::from_stream(lines))
        }
        ExportFormat::Json => {
            let head = futures::stream::once(async { Ok::<_, std::io::Error>(Bytes::from_static(DOCUMENT_HEAD)) });
            let items = entries.enumerate().map(move |(index, entry)| {
                let separator: &[u8] = if index == 0 { b"" } else { b",\n" };
                entry.map(|entry| json_object(&entry, separator, b"")).map_err(failed)
            });
            // The tail is written only after the last entry: a cut stream is never a whole document.
            let tail = futures::stream::once(async { Ok::<_, std::io::Error>(Bytes::from_static(DOCUMENT_TAIL)) });
            (
                "application/json",
                "json",
                Body::from_stream(head.chain(items).chain(tail)),
            )
        }
        ExportFormat::Csv => {
            let header =
                futures::stream::once(async { Ok::<_, std::io::Error>(Bytes::from(format!("{CSV_COLUMNS}\r\n"))) });
            let rows = entries.map(move |entry| entry.map(|entry| csv_row(&entry)).map_err(failed));
            ("text/csv; charset=utf-8", "csv", Body::from_stream(header.chain(rows)))
        }
    };
    let disposition = format!("attachment; filename=\"audit-{}.{extension}\"", principal.account_id);
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}
