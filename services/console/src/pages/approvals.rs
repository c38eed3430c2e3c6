//! `/console/approvals`: token requests a policy held for a person. The pending queue refreshes
//! itself every two seconds (htmx polls `/console/approvals/queue`, a fragment), so a request an
//! agent makes appears without a reload; approve or deny, each confirmed.

use axum::{
    extract::{Path, Query, State},
    response::{Html, IntoResponse, Response},
};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use crate::{
    Console,
    api::{items, segment, text},
    layout,
    session::{Posted, SignedIn},
};

/// How often the open page asks for the queue.
const POLL: &str = "every 2s";

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ShowQuery {
    #[serde(default)]
    notice: String,
}

async fn queue_markup(console: &Console, signed_in: &SignedIn) -> Markup {
    let pending = console
        .api(signed_in)
        .get("/v1/approvals?status=pending&limit=100")
        .await;
    html! {
        div id="queue" hx-get="/console/approvals/queue" hx-trigger=(POLL) hx-swap="outerHTML" aria-live="polite" {
            @match &pending {
                Ok(page) if items(page, "data").is_empty() => (layout::empty("Nothing is waiting.", "When a policy holds a token request (effect require_approval), it appears here at once.")),
                Ok(page) => div.table-wrap { table {
                    caption { (page.get("total").and_then(Value::as_u64).unwrap_or_default()) " pending" }
                    thead { tr { th { "Requested" } th { "Agent" } th { "Scopes" } th { "For" } th { "Intent" } th { "Policy" } th { "Expires" } th { span.visually-hidden { "Decision" } } } }
                    tbody {
                        @for approval in items(page, "data") {
                            @let id = text(approval, "id");
                            @let base = format!("/console/approvals/{}", segment(id));
                            tr data-approval=(id) {
                                td { (layout::time(text(approval, "requested_at"))) }
                                td { code { (text(approval, "agent_id")) } }
                                td { @for scope in items(approval, "scope") { code { (scope.as_str().unwrap_or_default()) } " " } }
                                td { (text(approval, "target_service")) " · " (approval.get("ttl").and_then(Value::as_i64).unwrap_or_default()) " s" }
                                td { (text(approval, "intent")) }
                                td { (text(approval, "policy_name")) }
                                td { (layout::time(text(approval, "expires_at"))) }
                                td.actions {
                                    (layout::action_button(signed_in, &format!("{base}/approve"), "Approve", Some(&format!("Approve {id}? The agent can then redeem its token once.")), false))
                                    (layout::action_button(signed_in, &format!("{base}/deny"), "Deny", Some(&format!("Deny {id}?")), true))
                                }
                            }
                        }
                    }
                } },
                Err(problem) => p.notice.error { (problem.detail) },
            }
        }
    }
}

/// `GET /console/approvals`.
pub(crate) async fn show(
    State(console): State<Console>,
    signed_in: SignedIn,
    Query(query): Query<ShowQuery>,
) -> Response {
    let queue = queue_markup(&console, &signed_in).await;
    let decided = console.api(&signed_in).get("/v1/approvals?limit=20").await;
    let top = match query.notice.as_str() {
        "approved" => layout::notice(
            "ok",
            "Approved: the agent can now redeem its token with the approval id.",
        ),
        "denied" => layout::notice("ok", "Denied: the request will never yield a token."),
        _ => html! {},
    };
    let content = html! {
        (top)
        section aria-labelledby="pending" {
            h2 id="pending" { "Pending" }
            (queue)
        }
        section aria-labelledby="recent" {
            h2 id="recent" { "Recent requests" }
            @match &decided {
                Ok(page) if items(page, "data").is_empty() => p.muted { "None yet." },
                Ok(page) => div.table-wrap { table {
                    thead { tr { th { "Id" } th { "Agent" } th { "Status" } th { "Decided" } th { "By" } th { "Token issued" } } }
                    tbody {
                        @for approval in items(page, "data") {
                            tr {
                                td { code { (text(approval, "id")) } }
                                td { code { (text(approval, "agent_id")) } }
                                td { (layout::badge(text(approval, "status"))) }
                                td { (layout::time(text(approval, "decided_at"))) }
                                td { (text(approval, "decided_by")) }
                                td { @if approval.get("token_issued").and_then(Value::as_bool).unwrap_or(false) { "yes" } @else { "no" } }
                            }
                        }
                    }
                } },
                Err(problem) => p.notice.error { (problem.detail) },
            }
        }
    };
    layout::page("Approvals", "/approvals", &signed_in, content)
}

/// `GET /console/approvals/queue`: the pending queue alone, for the page's polling.
pub(crate) async fn queue(State(console): State<Console>, signed_in: SignedIn) -> Response {
    Html(queue_markup(&console, &signed_in).await.into_string()).into_response()
}

/// `POST /console/approvals/{id}/{approve|deny}`.
pub(crate) async fn decide(
    State(console): State<Console>,
    Path((id, decision)): Path<(String, String)>,
    posted: Posted,
) -> Response {
    let notice = match decision.as_str() {
        "approve" => "approved",
        "deny" => "denied",
        _ => return layout::failure(http::StatusCode::NOT_FOUND, "Not found", "There is no such decision."),
    };
    let path = format!("/v1/approvals/{}/{decision}", segment(&id));
    match console.api(&posted.signed_in).act(path).await {
        Ok(_) => layout::see_other(&format!("/console/approvals?notice={notice}")),
        Err(problem) => layout::failure(
            http::StatusCode::from_u16(problem.status).unwrap_or(http::StatusCode::UNPROCESSABLE_ENTITY),
            "The approval could not be decided",
            &problem.detail,
        ),
    }
}
