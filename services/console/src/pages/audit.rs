//! `/console/audit`: the account's audit chain, filtered and paged; "verify chain" with the result
//! and the first broken link if any; the whole chain exported as a file.

use axum::{
    extract::{Query, State},
    response::{IntoResponse, Response},
};
use http::{HeaderValue, Method, header};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use crate::{
    Console,
    api::{items, query, text},
    layout,
    session::{Posted, SignedIn},
};

/// The filters as the page's form sends them (each is passed to `GET /v1/audit` as it is).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Filters {
    #[serde(default, rename = "type")]
    event_type: String,
    #[serde(default)]
    agent: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    cursor: String,
}

impl Filters {
    fn pairs(&self) -> [(&'static str, &str); 5] {
        [
            ("type", &self.event_type),
            ("agent", &self.agent),
            ("actor", &self.actor),
            ("from", &self.from),
            ("to", &self.to),
        ]
    }
}

/// Entries as a table: newest first as given.
pub(crate) fn entries_table(entries: &[Value]) -> Markup {
    html! {
        div.table-wrap { table.audit {
            thead { tr { th { "#" } th { "Time" } th { "Event" } th { "Actor" } th { "Subject" } th { "Details" } } }
            tbody {
                @for entry in entries {
                    tr {
                        td { (entry.get("seq").and_then(Value::as_i64).unwrap_or_default()) }
                        td { (layout::time(text(entry, "time"))) }
                        td { code { (text(entry, "type")) } }
                        td { code { (text(entry, "actor")) } }
                        td { code { (text(entry, "subject")) } }
                        td { details { summary { "data" } (layout::json(entry.get("data").unwrap_or(&Value::Null))) } }
                    }
                }
            }
        } }
    }
}

fn filter_form(filters: &Filters) -> Markup {
    let input = |label: &str, name: &str, value: &str, hint: &str| {
        html! {
            div.field {
                label for=(format!("filter-{name}")) { (label) }
                input id=(format!("filter-{name}")) name=(name) type="text" value=(value) placeholder=(hint);
            }
        }
    };
    html! {
        form.filters method="get" action="/console/audit" role="search" {
            div.grid {
                (input("Event type", "type", &filters.event_type, "token.* or agent.created"))
                (input("Agent", "agent", &filters.agent, "agt_…"))
                (input("Actor", "actor", &filters.actor, "key_… or agt_…"))
                (input("From", "from", &filters.from, "2026-01-01T00:00:00Z"))
                (input("To", "to", &filters.to, "RFC 3339"))
            }
            button type="submit" { "Filter" }
            " " a href="/console/audit" { "Clear" }
        }
    }
}

async fn page(console: &Console, signed_in: &SignedIn, filters: &Filters, top: Markup) -> Response {
    let mut pairs = filters.pairs().to_vec();
    pairs.push(("cursor", &filters.cursor));
    pairs.push(("limit", "50"));
    let entries = console.api(signed_in).get(format!("/v1/audit?{}", query(&pairs))).await;
    let next = entries
        .as_ref()
        .ok()
        .map(|page| text(page, "next_cursor"))
        .unwrap_or_default();
    let mut next_pairs = filters.pairs().to_vec();
    next_pairs.push(("cursor", next));
    let content = html! {
        (top)
        div.toolbar {
            form.inline method="post" action="/console/audit/verify" {
                (layout::csrf(signed_in))
                button type="submit" { "Verify chain" }
            }
            a.button href="/console/audit/export?format=jsonl" download="latchkey-audit.jsonl" data-progress="Preparing the export…" { "Export (JSON Lines)" }
            a.button href="/console/audit/export?format=csv" download="latchkey-audit.csv" data-progress="Preparing the export…" { "Export (CSV)" }
            span.progress role="status" aria-live="polite" {}
        }
        (filter_form(filters))
        @match &entries {
            Ok(page) if items(page, "data").is_empty() => (layout::empty("No entries match.", "Every change the account makes is written here; clear the filters to see them all.")),
            Ok(page) => {
                (entries_table(items(page, "data")))
                @if !next.is_empty() {
                    nav.pager aria-label="Pages" { a href=(format!("/console/audit?{}", query(&next_pairs))) { "Older →" } }
                }
            }
            Err(problem) => (layout::problem_notice(problem, &[])),
        }
    };
    layout::page("Audit log", "/audit", signed_in, content)
}

/// `GET /console/audit`.
pub(crate) async fn list(
    State(console): State<Console>,
    signed_in: SignedIn,
    Query(filters): Query<Filters>,
) -> Response {
    page(&console, &signed_in, &filters, html! {}).await
}

/// `POST /console/audit/verify`: recomputes every link of the chain.
pub(crate) async fn verify(State(console): State<Console>, posted: Posted) -> Response {
    let signed_in = posted.signed_in;
    let top = match console.api(&signed_in).get("/v1/audit/verify").await {
        Ok(result) => {
            let checked = result
                .get("entries_checked")
                .and_then(Value::as_i64)
                .unwrap_or_default();
            if result.get("valid").and_then(Value::as_bool).unwrap_or(false) {
                let head = result.get("head").map(|head| text(head, "hash")).unwrap_or_default();
                html! { div.notice.ok role="status" data-verified="true" {
                    p { strong { "The chain holds." } " " (checked) " entries checked; every hash links to the one before it." }
                    p.hint { "Head: " code { (head) } }
                } }
            } else {
                let broken = result.get("first_broken_seq").and_then(Value::as_i64);
                let contradicted = result.get("first_contradicted_checkpoint_seq").and_then(Value::as_i64);
                html! { div.notice.error role="alert" data-verified="false" {
                    p { strong { "The chain is broken." } " " (checked) " entries checked." }
                    @if let Some(seq) = broken { p { "First broken link: entry #" (seq) "." } }
                    @if let Some(seq) = contradicted { p { "First contradicted checkpoint: #" (seq) "." } }
                } }
            }
        }
        Err(problem) => layout::notice("error", &problem.detail),
    };
    page(&console, &signed_in, &Filters::default(), top).await
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ExportQuery {
    #[serde(default)]
    format: String,
}

/// `GET /console/audit/export`: the route's file, as a download.
pub(crate) async fn export(
    State(console): State<Console>,
    signed_in: SignedIn,
    Query(export): Query<ExportQuery>,
) -> Response {
    let (format, extension) = match export.format.as_str() {
        "csv" => ("csv", "csv"),
        _ => ("jsonl", "jsonl"),
    };
    let answer = console
        .api(&signed_in)
        .answer(Method::GET, format!("/v1/audit/export?format={format}"), None)
        .await;
    if !answer.status.is_success() {
        let problem = crate::api::ApiProblem::from_answer(&answer);
        return layout::failure(answer.status, "The export failed", &problem.detail);
    }
    let mut response = answer.body.into_response();
    let headers = response.headers_mut();
    if let Some(content_type) = answer.content_type.and_then(|value| HeaderValue::from_str(&value).ok()) {
        headers.insert(header::CONTENT_TYPE, content_type);
    }
    let disposition = format!("attachment; filename=\"latchkey-audit.{extension}\"");
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}
