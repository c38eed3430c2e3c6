//! `/console/tokens`: issue a token for an agent (shown once, or held for approval), verify a
//! pasted token, revoke one.

use axum::{extract::State, response::Response};
use maud::{Markup, html};
use serde_json::{Value, json};

use crate::{
    Console,
    api::{ApiProblem, items, text},
    layout::{self, Input, field},
    session::{Fields, Posted, SignedIn},
};

/// Scopes as a person types them: separated by spaces, commas or lines.
pub(crate) fn scopes(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|scope| !scope.is_empty())
        .map(str::to_owned)
        .collect()
}

#[derive(Default)]
struct Forms<'a> {
    issue: Option<(&'a Fields, &'a ApiProblem)>,
    verify: Option<(&'a Fields, &'a ApiProblem)>,
    revoke: Option<(&'a Fields, &'a ApiProblem)>,
}

fn forms(signed_in: &SignedIn, forms: &Forms<'_>) -> Markup {
    let empty = Fields::default();
    let (issue, issue_problem) = forms.issue.map_or((&empty, None), |(f, p)| (f, Some(p)));
    let (verify, verify_problem) = forms.verify.map_or((&empty, None), |(f, p)| (f, Some(p)));
    let (revoke, revoke_problem) = forms.revoke.map_or((&empty, None), |(f, p)| (f, Some(p)));
    html! {
        section aria-labelledby="issue" {
            h2 id="issue" { "Issue a token" }
            p.hint { "As the account, for one of its agents. The account's policies decide: the token, a refusal, or a request held for approval." }
            @if let Some(problem) = issue_problem { (layout::problem_notice(problem, &["agent_id", "scope", "ttl", "target_service", "intent"])) }
            form method="post" action="/console/tokens/issue" {
                (layout::csrf(signed_in))
                div.grid {
                    (field("Agent id", "agent_id", issue.get("agent_id"), Input::Text, Some("agt_…"), issue_problem))
                    (field("Scopes", "scope", issue.get("scope"), Input::Text, Some("Separated by spaces, e.g. docs.read calendar.write"), issue_problem))
                    (field("Lifetime (seconds)", "ttl", issue.get("ttl"), Input::Number, Some("Empty for the default."), issue_problem))
                    (field("Target service", "target_service", issue.get("target_service"), Input::Text, None, issue_problem))
                    (field("Intent", "intent", issue.get("intent"), Input::Text, Some("Why the agent needs it; policies and approvers see it."), issue_problem))
                }
                button type="submit" { "Issue token" }
            }
        }
        section aria-labelledby="verify" {
            h2 id="verify" { "Verify a token" }
            @if let Some(problem) = verify_problem { (layout::problem_notice(problem, &["token", "required_scope", "audience"])) }
            form method="post" action="/console/tokens/verify" {
                (layout::csrf(signed_in))
                (field("Token", "token", verify.get("token"), Input::Area, None, verify_problem))
                div.grid {
                    (field("Required scopes", "required_scope", verify.get("required_scope"), Input::Text, Some("Optional."), verify_problem))
                    (field("Audience", "audience", verify.get("audience"), Input::Text, Some("Optional."), verify_problem))
                }
                button type="submit" { "Verify" }
            }
        }
        section aria-labelledby="revoke" {
            h2 id="revoke" { "Revoke a token" }
            @if let Some(problem) = revoke_problem { (layout::problem_notice(problem, &["token"])) }
            form method="post" action="/console/tokens/revoke" data-confirm="Revoke this token? Every verifier refuses it within a second." {
                (layout::csrf(signed_in))
                (field("Token", "token", revoke.get("token"), Input::Area, None, revoke_problem))
                button.danger type="submit" { "Revoke token" }
            }
        }
    }
}

fn page(signed_in: &SignedIn, top: Markup, forms_markup: Markup) -> Response {
    layout::page("Tokens", "/tokens", signed_in, html! { (top) (forms_markup) })
}

/// `GET /console/tokens`.
pub(crate) async fn show(signed_in: SignedIn) -> Response {
    let body = forms(&signed_in, &Forms::default());
    page(&signed_in, html! {}, body)
}

/// `POST /console/tokens/issue`.
pub(crate) async fn issue(State(console): State<Console>, posted: Posted) -> Response {
    let Posted { signed_in, fields } = posted;
    let mut body = json!({"agent_id": fields.get("agent_id"), "scope": scopes(fields.get("scope"))});
    for name in ["target_service", "intent"] {
        if !fields.get(name).is_empty() {
            body[name] = Value::String(fields.get(name).to_owned());
        }
    }
    if !fields.get("ttl").is_empty() {
        // A number when it is one; the route names a non-number in its own words.
        body["ttl"] = fields
            .get("ttl")
            .parse::<i64>()
            .map_or_else(|_| Value::String(fields.get("ttl").to_owned()), Value::from);
    }
    match console.api(&signed_in).post("/v1/tokens", body).await {
        Ok(answer) if text(&answer, "status") == "pending" => {
            let top = html! {
                div.notice.warn role="status" {
                    p { "A policy holds this request for a person: approval " code { (text(&answer, "approval_id")) } "." }
                    p { a href="/console/approvals" { "Decide it in Approvals" } }
                }
            };
            page(&signed_in, top, forms(&signed_in, &Forms::default()))
        }
        Ok(answer) => {
            let top = html! {
                (layout::secret_once(&format!("Token {} for {}", text(&answer, "token_id"), text(&answer, "agent_id")), text(&answer, "token")))
                p { "Expires " (layout::time(text(&answer, "expires_at"))) "." }
            };
            page(&signed_in, top, forms(&signed_in, &Forms::default()))
        }
        Err(problem) => {
            let forms_markup = forms(
                &signed_in,
                &Forms {
                    issue: Some((&fields, &problem)),
                    ..Forms::default()
                },
            );
            page(&signed_in, html! {}, forms_markup)
        }
    }
}

/// `POST /console/tokens/verify`.
pub(crate) async fn verify(State(console): State<Console>, posted: Posted) -> Response {
    let Posted { signed_in, fields } = posted;
    let mut body = json!({"token": fields.get("token"), "required_scope": scopes(fields.get("required_scope"))});
    if !fields.get("audience").is_empty() {
        body["audience"] = Value::String(fields.get("audience").to_owned());
    }
    match console.api(&signed_in).post("/v1/tokens/verify", body).await {
        Ok(verdict) => {
            let valid = verdict.get("valid").and_then(Value::as_bool).unwrap_or(false);
            let top = html! {
                @if valid {
                    div.notice.ok role="status" {
                        p { strong { "Valid." } " Agent " code { (text(&verdict, "agent_id")) } ", expires " (layout::time(text(&verdict, "expires_at"))) "." }
                        p { "Scopes: " @for scope in items(&verdict, "scope") { code { (scope.as_str().unwrap_or_default()) } " " } }
                    }
                } @else {
                    div.notice.error role="status" { p { strong { "Not valid: " } (text(&verdict, "reason")) } }
                }
            };
            page(&signed_in, top, forms(&signed_in, &Forms::default()))
        }
        Err(problem) => {
            let forms_markup = forms(
                &signed_in,
                &Forms {
                    verify: Some((&fields, &problem)),
                    ..Forms::default()
                },
            );
            page(&signed_in, html! {}, forms_markup)
        }
    }
}

/// `POST /console/tokens/revoke`.
pub(crate) async fn revoke(State(console): State<Console>, posted: Posted) -> Response {
    let Posted { signed_in, fields } = posted;
    match console
        .api(&signed_in)
        .post("/v1/tokens/revoke", json!({"token": fields.get("token")}))
        .await
    {
        Ok(revoked) => {
            let top = layout::notice("ok", &format!("Token {} revoked.", text(&revoked, "token_id")));
            page(&signed_in, top, forms(&signed_in, &Forms::default()))
        }
        Err(problem) => {
            let forms_markup = forms(
                &signed_in,
                &Forms {
                    revoke: Some((&fields, &problem)),
                    ..Forms::default()
                },
            );
            page(&signed_in, html! {}, forms_markup)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn scopes_are_split_on_spaces_commas_and_lines() {
        assert_eq!(
            super::scopes(" docs.read, calendar.write\nx "),
            ["docs.read", "calendar.write", "x"]
        );
        assert!(super::scopes("  ").is_empty());
    }
}
