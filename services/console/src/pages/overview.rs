//! `/console`: what the account has, what waits for a person, what happened last, and whether the
//! services answer.

use axum::{extract::State, response::Response};
use maud::html;
use serde_json::Value;

use crate::{
    Console,
    api::{items, text},
    layout,
    pages::audit::entries_table,
    session::SignedIn,
};

/// `/` and `/console/` lead here.
pub(crate) async fn to_console() -> Response {
    layout::see_other("/console")
}

/// What the usage table shows: (usage key, label, page).
const COUNTED: [(&str, &str, &str); 7] = [
    ("agents", "Agents", "/console/agents"),
    ("policies", "Policies", "/console/policies"),
    ("connections", "Connections", "/console/connections"),
    ("webhooks", "Webhooks", "/console/webhooks"),
    ("api_keys", "API keys", "/console/api-keys"),
    ("certificates", "Certificates", "/console/certificates"),
    ("domains", "Domains", "/console/domains"),
];

/// `GET /console`.
pub(crate) async fn show(State(console): State<Console>, signed_in: SignedIn) -> Response {
    let api = console.api(&signed_in);
    let (usage, pending, recent, ready) = futures::join!(
        api.get("/v1/usage"),
        api.get("/v1/approvals?status=pending&limit=1"),
        api.get("/v1/audit?limit=8"),
        api.answer(http::Method::GET, "/readyz".to_owned(), None),
    );
    let pending_total = pending
        .as_ref()
        .ok()
        .and_then(|page| page.get("total"))
        .and_then(Value::as_u64);
    let content = html! {
        section aria-labelledby="waiting" {
            h2 id="waiting" { "Waiting for you" }
            @match pending_total {
                Some(0) => p { "No token request is waiting for approval." },
                Some(count) => p.notice.warn {
                    a href="/console/approvals" { (count) " token request" @if count != 1 { "s" } " waiting for approval" }
                },
                None => p.muted { "The approvals could not be read." },
            }
        }
        section aria-labelledby="usage" {
            h2 id="usage" { "Your account" }
            @match &usage {
                Ok(usage) => {
                    p { "Plan: " strong { (text(usage, "plan")) } }
                    div.cards {
                        @for (key, label, href) in COUNTED {
                            @let count = usage.get("usage").and_then(|u| u.get(key)).and_then(Value::as_u64).unwrap_or(0);
                            @let limit = usage.get("limits").and_then(|l| l.get(key)).and_then(Value::as_u64);
                            a.card href=(href) {
                                span.count { (count) }
                                span.label { (label) }
                                @if let Some(limit) = limit { span.limit { "of " (limit) } }
                            }
                        }
                    }
                }
                Err(problem) => p.notice.error { (problem.detail) },
            }
        }
        section aria-labelledby="recent" {
            h2 id="recent" { "Recent activity" }
            @match &recent {
                Ok(page) if items(page, "data").is_empty() => (layout::empty("Nothing has happened yet.", "Create an agent or a policy and it appears here.")),
                Ok(page) => {
                    (entries_table(items(page, "data")))
                    p { a href="/console/audit" { "The whole audit log" } }
                }
                Err(problem) => p.notice.error { (problem.detail) },
            }
        }
        section aria-labelledby="health" {
            h2 id="health" { "Services" }
            @if ready.status.is_success() {
                p { (layout::badge("ready")) " Every service answers." }
            } @else {
                p { (layout::badge("unavailable")) " Some services do not answer: " (crate::api::ApiProblem::from_answer(&ready).detail) }
            }
        }
    };
    layout::page("Overview", "", &signed_in, content)
}
