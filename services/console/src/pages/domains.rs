//! `/console/domains`: the account's domains, the TXT record that proves each, and a check.

use axum::{
    extract::{Path, State},
    response::Response,
};
use maud::{Markup, html};
use serde_json::json;

use crate::{
    Console,
    api::{items, segment, text},
    layout,
    session::{Posted, SignedIn},
};

async fn page(console: &Console, signed_in: &SignedIn, top: Markup) -> Response {
    let domains = console.api(signed_in).get("/v1/domains").await;
    let content = html! {
        (top)
        @match &domains {
            Ok(page) if items(page, "data").is_empty() => (layout::empty("No domains yet.", "Add one to prove you own it: agents owned there show as verified, and webhooks to it are trusted.")),
            Ok(page) => div.table-wrap { table {
                thead { tr { th { "Domain" } th { "Status" } th { "TXT record" } th { "Last checked" } th { span.visually-hidden { "Actions" } } } }
                tbody {
                    @for domain in items(page, "data") {
                        @let record = domain.get("txt_record").cloned().unwrap_or_default();
                        tr {
                            td { (text(domain, "domain")) }
                            td { (layout::badge(text(domain, "status"))) " " (text(domain, "reason")) }
                            td { code { (text(&record, "name")) } br; code { (text(&record, "value")) } }
                            td { (layout::time(text(domain, "last_checked_at"))) }
                            td.actions {
                                @if text(domain, "status") != "verified" {
                                    (layout::action_button(signed_in, &format!("/console/domains/{}/verify", segment(text(domain, "id"))), "Check now", None, false))
                                }
                            }
                        }
                    }
                }
            } },
            Err(problem) => p.notice.error { (problem.detail) },
        }
        (layout::add_form(signed_in, &layout::AddForm {
            heading: "Add a domain",
            action: "/console/domains",
            label: "Domain",
            name: "domain",
            hint: Some("e.g. example.com"),
            submit: "Add domain",
        }))
    };
    layout::page("Domains", "/domains", signed_in, content)
}

/// `GET /console/domains`.
pub(crate) async fn list(State(console): State<Console>, signed_in: SignedIn) -> Response {
    page(&console, &signed_in, html! {}).await
}

/// `POST /console/domains`.
pub(crate) async fn create(State(console): State<Console>, posted: Posted) -> Response {
    let Posted { signed_in, fields } = posted;
    let top = match console
        .api(&signed_in)
        .post("/v1/domains", json!({"domain": fields.get("domain")}))
        .await
    {
        Ok(domain) => layout::notice(
            "ok",
            &format!("Added {}: publish its TXT record, then check.", text(&domain, "domain")),
        ),
        Err(problem) => layout::problem_notice(&problem, &[]),
    };
    page(&console, &signed_in, top).await
}

/// `POST /console/domains/{id}/verify`.
pub(crate) async fn verify(State(console): State<Console>, Path(id): Path<String>, posted: Posted) -> Response {
    let signed_in = posted.signed_in;
    let top = match console
        .api(&signed_in)
        .act(format!("/v1/domains/{}/verify", segment(&id)))
        .await
    {
        Ok(domain) => layout::notice(
            "ok",
            &format!("{}: {}", text(&domain, "domain"), text(&domain, "status")),
        ),
        Err(problem) => layout::problem_notice(&problem, &[]),
    };
    page(&console, &signed_in, top).await
}
