//! `/console/agents`: the account's agents; create one (its secret key shown once), pause, resume,
//! revoke.

use axum::{
    extract::{Path, Query, State},
    response::Response,
};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    Console,
    api::{ApiProblem, items, query, segment, text},
    layout::{self, Input, field},
    session::{Fields, Posted, SignedIn},
};

const PAGE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    offset: u32,
    #[serde(default)]
    notice: String,
}

fn notice_text(key: &str) -> Option<&'static str> {
    match key {
        "paused" => Some("The agent is paused: it cannot get tokens until it is resumed."),
        "resumed" => Some("The agent is active again."),
        "revoked" => Some("The agent is revoked, with every token it held."),
        _ => None,
    }
}

fn create_form(signed_in: &SignedIn, fields: &Fields, problem: Option<&ApiProblem>) -> Markup {
    const NAMES: [&str; 6] = [
        "name",
        "owner",
        "description",
        "model_provider",
        "model_name",
        "framework",
    ];
    html! {
        section aria-labelledby="create" {
            h2 id="create" { "Create an agent" }
            @if let Some(problem) = problem { (layout::problem_notice(problem, &NAMES)) }
            form method="post" action="/console/agents" {
                (layout::csrf(signed_in))
                div.grid {
                    (field("Name", "name", fields.get("name"), Input::Text, None, problem))
                    (field("Owner", "owner", fields.get("owner"), Input::Text, Some("The team or person responsible, e.g. platform."), problem))
                    (field("Description", "description", fields.get("description"), Input::Text, None, problem))
                    (field("Model provider", "model_provider", fields.get("model_provider"), Input::Text, Some("e.g. anthropic"), problem))
                    (field("Model", "model_name", fields.get("model_name"), Input::Text, None, problem))
                    (field("Framework", "framework", fields.get("framework"), Input::Text, None, problem))
                }
                button type="submit" { "Create agent" }
            }
        }
    }
}

async fn page(console: &Console, signed_in: &SignedIn, offset: u32, top: Markup, form: Markup) -> Response {
    let agents = console
        .api(signed_in)
        .get(format!(
            "/v1/agents?{}",
            query(&[("limit", &PAGE.to_string()), ("offset", &offset.to_string())])
        ))
        .await;
    let content = html! {
        (top)
        section aria-labelledby="agents" {
            h2 id="agents" { "Agents" }
            @match &agents {
                Ok(page) if items(page, "data").is_empty() && offset == 0 => (layout::empty("No agents yet.", "Create one below; it gets a secret key to request its own tokens.")),
                Ok(page) => {
                    div.table-wrap { table {
                        thead { tr { th { "Name" } th { "Id" } th { "Owner" } th { "Model" } th { "Status" } th { "Created" } th { span.visually-hidden { "Actions" } } } }
                        tbody {
                            @for agent in items(page, "data") {
                                @let id = text(agent, "id");
                                @let status = text(agent, "status");
                                tr {
                                    td { (text(agent, "name")) }
                                    td { code { (id) } }
                                    td { (text(agent, "owner")) }
                                    td { (text(agent, "model_provider")) " " (text(agent, "model_name")) }
                                    td { (layout::badge(status)) }
                                    td { (layout::time(text(agent, "created_at"))) }
                                    td.actions {
                                        @let base = format!("/console/agents/{}", segment(id));
                                        @if status == "active" {
                                            (layout::action_button(signed_in, &format!("{base}/pause"), "Pause", None, false))
                                        }
                                        @if status == "paused" {
                                            (layout::action_button(signed_in, &format!("{base}/resume"), "Resume", None, false))
                                        }
                                        @if status != "revoked" {
                                            (layout::action_button(signed_in, &format!("{base}/revoke"), "Revoke",
                                                Some(&format!("Revoke {}? Every token it holds stops working, and this cannot be undone.", text(agent, "name"))), true))
                                        }
                                    }
                                }
                            }
                        }
                    } }
                    (pager("/console/agents", page, offset))
                }
                Err(problem) => p.notice.error { (problem.detail) },
            }
        }
        (form)
    };
    layout::page("Agents", "/agents", signed_in, content)
}

/// Previous/next links for a `{data, total, limit, offset}` page.
pub(crate) fn pager(base: &str, page: &Value, offset: u32) -> Markup {
    let total = page.get("total").and_then(Value::as_u64).unwrap_or(0);
    let shown = items(page, "data").len() as u64;
    let next = u64::from(offset) + shown;
    html! {
        @if offset > 0 || next < total {
            nav.pager aria-label="Pages" {
                @if offset > 0 { a href=(format!("{base}?offset={}", offset.saturating_sub(PAGE))) { "← Newer" } }
                span { (u64::from(offset) + 1) "–" (next) " of " (total) }
                @if next < total { a href=(format!("{base}?offset={next}")) { "Older →" } }
            }
        }
    }
}

/// `GET /console/agents`.
pub(crate) async fn list(
    State(console): State<Console>,
    signed_in: SignedIn,
    Query(list_query): Query<ListQuery>,
) -> Response {
    let top = match notice_text(&list_query.notice) {
        Some(message) => layout::notice("ok", message),
        None => html! {},
    };
    let form = create_form(&signed_in, &Fields::default(), None);
    page(&console, &signed_in, list_query.offset, top, form).await
}

/// `POST /console/agents`: the secret key is on this answer and nowhere else.
pub(crate) async fn create(State(console): State<Console>, posted: Posted) -> Response {
    let Posted { signed_in, fields } = posted;
    let optional = |name: &str| match fields.get(name) {
        "" => Value::Null,
        value => Value::String(value.to_owned()),
    };
    let body = json!({
        "name": fields.get("name"),
        "owner": fields.get("owner"),
        "description": optional("description"),
        "model_provider": optional("model_provider"),
        "model_name": optional("model_name"),
        "framework": optional("framework"),
    });
    match console.api(&signed_in).post("/v1/agents", body).await {
        Ok(created) => {
            // The agent's fields and its secret key, side by side in one object.
            let top = html! {
                (layout::notice("ok", &format!("Agent {} created.", text(&created, "name"))))
                (layout::secret_once(&format!("Secret key of {} ({})", text(&created, "name"), text(&created, "id")), text(&created, "secret_key")))
            };
            page(
                &console,
                &signed_in,
                0,
                top,
                create_form(&signed_in, &Fields::default(), None),
            )
            .await
        }
        Err(problem) => {
            let form = create_form(&signed_in, &fields, Some(&problem));
            page(&console, &signed_in, 0, html! {}, form).await
        }
    }
}

/// `POST /console/agents/{id}/{pause|resume|revoke}`.
pub(crate) async fn change_status(
    State(console): State<Console>,
    Path((id, change)): Path<(String, String)>,
    posted: Posted,
) -> Response {
    let notice = match change.as_str() {
        "pause" => "paused",
        "resume" => "resumed",
        "revoke" => "revoked",
        _ => return layout::failure(http::StatusCode::NOT_FOUND, "Not found", "There is no such action."),
    };
    let path = format!("/v1/agents/{}/{change}", segment(&id));
    match console.api(&posted.signed_in).act(path).await {
        Ok(_) => layout::see_other(&format!("/console/agents?notice={notice}")),
        Err(problem) => {
            let top = layout::notice("error", &problem.detail);
            page(
                &console,
                &posted.signed_in,
                0,
                top,
                create_form(&posted.signed_in, &Fields::default(), None),
            )
            .await
        }
    }
}
