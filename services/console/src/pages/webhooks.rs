//! `/console/webhooks`: endpoints (create with the signing secret shown once), and per endpoint its
//! deliveries with their attempts, retry, replay, enable, a test event and deletion.

use axum::{
    extract::{Path, State},
    response::Response,
};
use maud::{Markup, html};
use serde_json::{Value, json};

use crate::{
    Console,
    api::{ApiProblem, items, query, segment, text},
    layout::{self, Input, field},
    pages::tokens::scopes,
    session::{Fields, Posted, SignedIn},
};

fn create_form(signed_in: &SignedIn, fields: &Fields, problem: Option<&ApiProblem>) -> Markup {
    html! {
        section aria-labelledby="create" {
            h2 id="create" { "Add an endpoint" }
            @if let Some(problem) = problem { (layout::problem_notice(problem, &["url", "events", "description"])) }
            form method="post" action="/console/webhooks" {
                (layout::csrf(signed_in))
                (field("URL", "url", fields.get("url"), Input::Text, Some("https://… — Latchkey signs every delivery."), problem))
                div.grid {
                    (field("Events", "events", fields.get("events"), Input::Text, Some("Separated by spaces, e.g. token.issued agent.*; empty for every event."), problem))
                    (field("Description", "description", fields.get("description"), Input::Text, None, problem))
                }
                button type="submit" { "Add endpoint" }
            }
        }
    }
}

async fn list_page(console: &Console, signed_in: &SignedIn, top: Markup, form: Markup) -> Response {
    let endpoints = console.api(signed_in).get("/v1/webhooks").await;
    let content = html! {
        (top)
        @match &endpoints {
            Ok(page) if items(page, "data").is_empty() => (layout::empty("No endpoints yet.", "Add one below and Latchkey posts every event of the account to it, signed.")),
            Ok(page) => div.table-wrap { table {
                thead { tr { th { "URL" } th { "Events" } th { "Status" } th { "Created" } } }
                tbody {
                    @for endpoint in items(page, "data") {
                        tr {
                            td { a href=(format!("/console/webhooks/{}", segment(text(endpoint, "id")))) { (text(endpoint, "url")) } }
                            td { @for event in items(endpoint, "events") { code { (event.as_str().unwrap_or_default()) } " " } }
                            td { (layout::badge(text(endpoint, "status"))) }
                            td { (layout::time(text(endpoint, "created_at"))) }
                        }
                    }
                }
            } },
            Err(problem) => p.notice.error { (problem.detail) },
        }
        (form)
    };
    layout::page("Webhooks", "/webhooks", signed_in, content)
}

/// `GET /console/webhooks`.
pub(crate) async fn list(State(console): State<Console>, signed_in: SignedIn) -> Response {
    let form = create_form(&signed_in, &Fields::default(), None);
    list_page(&console, &signed_in, html! {}, form).await
}

/// `POST /console/webhooks`.
pub(crate) async fn create(State(console): State<Console>, posted: Posted) -> Response {
    let Posted { signed_in, fields } = posted;
    let mut body = json!({"url": fields.get("url"), "events": scopes(fields.get("events"))});
    if !fields.get("description").is_empty() {
        body["description"] = Value::String(fields.get("description").to_owned());
    }
    match console.api(&signed_in).post("/v1/webhooks", body).await {
        Ok(created) => {
            let endpoint = created.get("endpoint").cloned().unwrap_or_default();
            let top = layout::secret_once(
                &format!("Signing secret of {}", text(&endpoint, "url")),
                text(&created, "secret"),
            );
            let form = create_form(&signed_in, &Fields::default(), None);
            list_page(&console, &signed_in, top, form).await
        }
        Err(problem) => {
            let form = create_form(&signed_in, &fields, Some(&problem));
            list_page(&console, &signed_in, html! {}, form).await
        }
    }
}

async fn endpoint_page(console: &Console, signed_in: &SignedIn, id: &str, top: Markup) -> Response {
    let api = console.api(signed_in);
    let (endpoint, deliveries) = futures::join!(
        api.get(format!("/v1/webhooks/{}", segment(id))),
        api.get(format!(
            "/v1/webhooks/{}/deliveries?{}",
            segment(id),
            query(&[("limit", "50")])
        )),
    );
    let endpoint = match endpoint {
        Ok(endpoint) => endpoint,
        Err(problem) => {
            let status = http::StatusCode::from_u16(problem.status).unwrap_or(http::StatusCode::NOT_FOUND);
            return layout::failure(status, "Endpoint not found", &problem.detail);
        }
    };
    let base = format!("/console/webhooks/{}", segment(id));
    let content = html! {
        p { a href="/console/webhooks" { "← All endpoints" } }
        (top)
        dl.facts {
            dt { "URL" } dd { code { (text(&endpoint, "url")) } }
            dt { "Status" } dd { (layout::badge(text(&endpoint, "status"))) " " (text(&endpoint, "disabled_reason")) }
            dt { "Events" } dd { @for event in items(&endpoint, "events") { code { (event.as_str().unwrap_or_default()) } " " } @if items(&endpoint, "events").is_empty() { "every event" } }
        }
        div.toolbar {
            @if text(&endpoint, "status") == "disabled" {
                (layout::action_button(signed_in, &format!("{base}/enable"), "Enable", None, false))
            }
            (layout::action_button(signed_in, &format!("{base}/test"), "Send a test event", None, false))
            (layout::action_button(signed_in, &format!("{base}/delete"), "Delete endpoint", Some("Delete this endpoint? Nothing more is delivered to it."), true))
        }
        section aria-labelledby="replay" {
            h2 id="replay" { "Replay" }
            form method="post" action=(format!("{base}/replay")) data-confirm="Send these events again?" {
                (layout::csrf(signed_in))
                (field("Events since", "since", "", Input::Text, Some("RFC 3339, e.g. 2026-12-01T00:00:00Z"), None))
                button type="submit" { "Replay" }
            }
        }
        section aria-labelledby="deliveries" {
            h2 id="deliveries" { "Deliveries" }
            @match &deliveries {
                Ok(page) if items(page, "data").is_empty() => (layout::empty("Nothing delivered yet.", "Send a test event to see an attempt here.")),
                Ok(page) => div.table-wrap { table {
                    thead { tr { th { "Attempted" } th { "Event" } th { "Outcome" } th { "HTTP" } th { "Latency" } th { "Message" } th { span.visually-hidden { "Actions" } } } }
                    tbody {
                        @for delivery in items(page, "data") {
                            tr {
                                td { (layout::time(text(delivery, "attempted_at"))) }
                                td { code { (text(delivery, "event_type")) } }
                                td { (layout::badge(text(delivery, "outcome"))) " " (text(delivery, "error")) }
                                td { (delivery.get("status_code").and_then(Value::as_u64).map(|code| code.to_string()).unwrap_or_default()) }
                                td { (delivery.get("latency_ms").and_then(Value::as_i64).unwrap_or_default()) " ms" }
                                td { code { (text(delivery, "message_id")) } " " (layout::badge(text(delivery, "message_status"))) }
                                td.actions {
                                    form.inline method="post" action=(format!("{base}/retry")) {
                                        (layout::csrf(signed_in))
                                        input type="hidden" name="message_id" value=(text(delivery, "message_id"));
                                        button type="submit" { "Retry" }
                                    }
                                }
                            }
                        }
                    }
                } },
                Err(problem) => p.notice.error { (problem.detail) },
            }
        }
    };
    layout::page("Webhook endpoint", "/webhooks", signed_in, content)
}

/// `GET /console/webhooks/{id}`.
pub(crate) async fn show(State(console): State<Console>, Path(id): Path<String>, signed_in: SignedIn) -> Response {
    endpoint_page(&console, &signed_in, &id, html! {}).await
}

/// `POST /console/webhooks/{id}/{enable|test|delete|replay|retry}`.
pub(crate) async fn act(
    State(console): State<Console>,
    Path((id, action)): Path<(String, String)>,
    posted: Posted,
) -> Response {
    let Posted { signed_in, fields } = posted;
    let api = console.api(&signed_in);
    let endpoint = format!("/v1/webhooks/{}", segment(&id));
    let done = match action.as_str() {
        "enable" => api
            .act(format!("{endpoint}/enable"))
            .await
            .map(|_| "Enabled.".to_owned()),
        "test" => api
            .act(format!("{endpoint}/test"))
            .await
            .map(|_| "A test event is on its way.".to_owned()),
        "replay" => api
            .post(format!("{endpoint}/replay"), json!({"since": fields.get("since")}))
            .await
            .map(|result| {
                format!(
                    "{} events queued again.",
                    result.get("queued").and_then(Value::as_u64).unwrap_or_default()
                )
            }),
        "retry" => api
            .act(format!(
                "{endpoint}/deliveries/{}/retry",
                segment(fields.get("message_id"))
            ))
            .await
            .map(|_| "The message is queued again.".to_owned()),
        "delete" => {
            return match api.delete(endpoint).await {
                Ok(_) => layout::see_other("/console/webhooks"),
                Err(problem) => {
                    endpoint_page(&console, &signed_in, &id, layout::notice("error", &problem.detail)).await
                }
            };
        }
        _ => return layout::failure(http::StatusCode::NOT_FOUND, "Not found", "There is no such action."),
    };
    let top = match done {
        Ok(message) => layout::notice("ok", &message),
        Err(problem) => layout::problem_notice(&problem, &[]),
    };
    endpoint_page(&console, &signed_in, &id, top).await
}
