//! `/console/credentials`: the providers' API keys in the vault. Write-only: the page shows which
//! keys are stored and their last four characters, never a key.

use axum::{extract::State, response::Response};
use http::Method;
use maud::{Markup, html};
use serde_json::{Map, Value};

use crate::{
    Console,
    api::ApiProblem,
    layout,
    session::{Posted, SignedIn},
};

/// The providers in a masked summary: `hasOpenaiApiKey` → `openai`'s field prefix `openai`.
fn providers(summary: &Value) -> Vec<String> {
    summary
        .as_object()
        .map(|fields| {
            fields
                .keys()
                .filter_map(|key| key.strip_prefix("has")?.strip_suffix("ApiKey"))
                .map(|name| {
                    let mut chars = name.chars();
                    chars
                        .next()
                        .map(|first| first.to_lowercase().chain(chars).collect())
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn page(console: &Console, signed_in: &SignedIn, top: Markup, problem: Option<&ApiProblem>) -> Response {
    let summary = console.api(signed_in).get("/credentials").await;
    let content = html! {
        (top)
        @if let Some(problem) = problem { (layout::problem_notice(problem, &[])) }
        @match &summary {
            Ok(summary) => form method="post" action="/console/credentials" {
                (layout::csrf(signed_in))
                p.hint { "Fill in only the keys to change. Stored keys are encrypted in the vault and never shown again." }
                div.table-wrap { table {
                    thead { tr { th { "Provider" } th { "Stored" } th { "New key" } } }
                    tbody {
                        @for code in providers(summary) {
                            @let field = format!("{code}ApiKey");
                            @let last4 = summary.get(format!("{code}ApiKeyLast4")).and_then(Value::as_str);
                            @let stored = summary.get(format!("has{}", capitalised(&field))).and_then(Value::as_bool).unwrap_or(false);
                            tr {
                                td { label for=(field) { (code) } }
                                td { @if stored { "••••" (last4.unwrap_or_default()) } @else { span.muted { "none" } } }
                                td {
                                    input id=(field) name=(field) type="password" autocomplete="off";
                                    @for error in problem.map(|p| p.errors_for(&field)).unwrap_or_default() { p.field-error role="alert" { (error) } }
                                }
                            }
                        }
                    }
                } }
                div.field.check {
                    input id="writeOnly" type="checkbox" name="writeOnly" value="true";
                    label for="writeOnly" { "Write-only: never hand these keys out, use them only through the credential proxy" }
                }
                button type="submit" { "Save keys" }
            },
            Err(problem) => p.notice.error { (problem.detail) },
        }
    };
    layout::page("Credentials", "/credentials", signed_in, content)
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// `GET /console/credentials`.
pub(crate) async fn show(State(console): State<Console>, signed_in: SignedIn) -> Response {
    page(&console, &signed_in, html! {}, None).await
}

/// `POST /console/credentials`: `PUT /credentials` with the keys filled in.
pub(crate) async fn save(State(console): State<Console>, posted: Posted) -> Response {
    let Posted { signed_in, fields } = posted;
    let mut body = Map::new();
    for (name, value) in fields.pairs() {
        if name.ends_with("ApiKey") && !value.trim().is_empty() {
            body.insert(name.clone(), Value::String(value.trim().to_owned()));
        }
    }
    if body.is_empty() {
        return page(
            &console,
            &signed_in,
            layout::notice("error", "Enter at least one key."),
            None,
        )
        .await;
    }
    if fields.ticked("writeOnly") {
        body.insert("writeOnly".to_owned(), Value::Bool(true));
    }
    let count = body.len();
    match console
        .api(&signed_in)
        .send(Method::PUT, "/credentials", Value::Object(body))
        .await
    {
        Ok(_) => {
            page(
                &console,
                &signed_in,
                layout::notice("ok", &format!("Saved ({count} field(s)).")),
                None,
            )
            .await
        }
        Err(problem) => page(&console, &signed_in, html! {}, Some(&problem)).await,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn providers_are_read_from_the_masked_summary() {
        let summary =
            serde_json::json!({"hasOpenaiApiKey": true, "openaiApiKeyLast4": "abcd", "hasElevenlabsApiKey": false});
        let mut providers = super::providers(&summary);
        providers.sort();
        assert_eq!(providers, ["elevenlabs", "openai"]);
    }
}
