//! `/console/policies`: the account's policies; create and edit them with the policy service's
//! errors beside the field they name (`rules[0].effect`), and the dry-run evaluator.

use axum::{
    extract::{Path, State},
    response::Response,
};
use http::Method;
use maud::{Markup, html};
use serde_json::{Value, json};

use crate::{
    Console,
    api::{ApiProblem, items, segment, text},
    layout::{self, Input, field},
    pages::tokens::scopes,
    session::{Fields, Posted, SignedIn},
};

const EXAMPLE_RULES: &str = r#"[
  {"match": {"scopes": ["secrets.*"]}, "effect": "require_approval"}
]"#;

const POLICY_FIELDS: [&str; 5] = ["name", "description", "priority", "rules", "is_active"];

/// The policy form, filled from `values` (a policy or what was posted).
fn policy_form(
    signed_in: &SignedIn,
    action: &str,
    values: &Fields,
    problem: Option<&ApiProblem>,
    submit: &str,
) -> Markup {
    let rules = match values.get("rules") {
        "" => EXAMPLE_RULES,
        rules => rules,
    };
    let active = values.ticked("is_active");
    html! {
        @if let Some(problem) = problem { (layout::problem_notice(problem, &POLICY_FIELDS)) }
        form method="post" action=(action) {
            (layout::csrf(signed_in))
            div.grid {
                (field("Name", "name", values.get("name"), Input::Text, None, problem))
                (field("Priority", "priority", values.get("priority"), Input::Number, Some("0 to 10000; the highest matching policy decides. Empty for 100."), problem))
            }
            (field("Description", "description", values.get("description"), Input::Text, None, problem))
            (field("Rules", "rules", rules, Input::Area, Some("A JSON array of rules: {\"match\": {…}, \"effect\": \"allow\" | \"deny\" | \"require_approval\" | {\"type\": \"throttle\", …}}. See docs/policies.md."), problem))
            div.field.check {
                input id="is_active" type="checkbox" name="is_active" value="true" checked[active];
                label for="is_active" { "Active" }
            }
            button type="submit" { (submit) }
        }
    }
}

fn evaluate_form(signed_in: &SignedIn, values: &Fields, problem: Option<&ApiProblem>) -> Markup {
    html! {
        section aria-labelledby="evaluate" {
            h2 id="evaluate" { "Dry run" }
            p.hint { "Which rule would decide a token request, without counting or holding anything." }
            @if let Some(problem) = problem { (layout::problem_notice(problem, &["agent_id", "scope", "target_service"])) }
            form method="post" action="/console/policies/evaluate" {
                (layout::csrf(signed_in))
                div.grid {
                    (field("Agent id", "agent_id", values.get("agent_id"), Input::Text, Some("agt_…"), problem))
                    (field("Scopes", "scope", values.get("scope"), Input::Text, Some("Separated by spaces."), problem))
                    (field("Target service", "target_service", values.get("target_service"), Input::Text, None, problem))
                }
                button type="submit" { "Evaluate" }
            }
        }
    }
}

async fn list_page(console: &Console, signed_in: &SignedIn, top: Markup, create: Markup, evaluate: Markup) -> Response {
    let policies = console.api(signed_in).get("/v1/policies").await;
    let content = html! {
        (top)
        section aria-labelledby="policies" {
            h2 id="policies" { "Policies" }
            @match &policies {
                Ok(page) if items(page, "data").is_empty() => (layout::empty("No policies yet: every token request gets the account's default.", "Write one below, e.g. hold every request for secrets.* for a person.")),
                Ok(page) => div.table-wrap { table {
                    thead { tr { th { "Name" } th { "Priority" } th { "Rules" } th { "State" } th { "Updated" } } }
                    tbody {
                        @for policy in items(page, "data") {
                            tr {
                                td { a href=(format!("/console/policies/{}", segment(text(policy, "id")))) { (text(policy, "name")) } }
                                td { (policy.get("priority").and_then(Value::as_i64).unwrap_or_default()) }
                                td { (items(policy, "rules").len()) }
                                td { @if policy.get("is_active").and_then(Value::as_bool).unwrap_or(false) { (layout::badge("active")) } @else { (layout::badge("inactive")) } }
                                td { (layout::time(text(policy, "updated_at"))) }
                            }
                        }
                    }
                } },
                Err(problem) => p.notice.error { (problem.detail) },
            }
        }
        section aria-labelledby="create" {
            h2 id="create" { "Create a policy" }
            (create)
        }
        (evaluate)
    };
    layout::page("Policies", "/policies", signed_in, content)
}

/// `GET /console/policies`.
pub(crate) async fn list(State(console): State<Console>, signed_in: SignedIn) -> Response {
    let create = policy_form(&signed_in, "/console/policies", &new_policy(), None, "Create policy");
    let evaluate = evaluate_form(&signed_in, &Fields::default(), None);
    list_page(&console, &signed_in, html! {}, create, evaluate).await
}

/// The JSON body of a posted policy form, or the problem of a rules field that is not JSON.
fn policy_body(fields: &Fields) -> Result<Value, ApiProblem> {
    let rules: Value = serde_json::from_str(fields.get("rules")).map_err(|error| ApiProblem {
        status: 422,
        code: "VALIDATION_ERROR".to_owned(),
        detail: "The rules are not valid JSON.".to_owned(),
        errors: vec![("rules".to_owned(), format!("must be a JSON array of rules ({error})"))],
    })?;
    let mut body = json!({
        "name": fields.get("name"),
        "rules": rules,
        "is_active": fields.ticked("is_active"),
    });
    body["description"] = match fields.get("description") {
        "" => Value::Null,
        description => Value::String(description.to_owned()),
    };
    if !fields.get("priority").is_empty() {
        body["priority"] = fields
            .get("priority")
            .parse::<i64>()
            .map_or_else(|_| Value::String(fields.get("priority").to_owned()), Value::from);
    }
    Ok(body)
}

/// `POST /console/policies`.
pub(crate) async fn create(State(console): State<Console>, posted: Posted) -> Response {
    let Posted { signed_in, fields } = posted;
    let created = match policy_body(&fields) {
        Ok(body) => console.api(&signed_in).post("/v1/policies", body).await,
        Err(problem) => Err(problem),
    };
    let evaluate = evaluate_form(&signed_in, &Fields::default(), None);
    match created {
        Ok(policy) => {
            let top = layout::notice("ok", &format!("Policy {} created.", text(&policy, "name")));
            let create = policy_form(&signed_in, "/console/policies", &new_policy(), None, "Create policy");
            list_page(&console, &signed_in, top, create, evaluate).await
        }
        Err(problem) => {
            let create = policy_form(
                &signed_in,
                "/console/policies",
                &fields,
                Some(&problem),
                "Create policy",
            );
            list_page(&console, &signed_in, html! {}, create, evaluate).await
        }
    }
}

/// The fields of a new policy's form: active, the example rules.
fn new_policy() -> Fields {
    Fields::from_pairs(vec![("is_active".to_owned(), "true".to_owned())])
}

/// A stored policy as form fields.
fn fields_of(policy: &Value) -> Fields {
    let rules = policy.get("rules").cloned().unwrap_or_else(|| json!([]));
    let mut pairs = vec![
        ("name".to_owned(), text(policy, "name").to_owned()),
        ("description".to_owned(), text(policy, "description").to_owned()),
        (
            "priority".to_owned(),
            policy
                .get("priority")
                .and_then(Value::as_i64)
                .unwrap_or(100)
                .to_string(),
        ),
        (
            "rules".to_owned(),
            serde_json::to_string_pretty(&rules).unwrap_or_default(),
        ),
    ];
    if policy.get("is_active").and_then(Value::as_bool).unwrap_or(false) {
        pairs.push(("is_active".to_owned(), "true".to_owned()));
    }
    Fields::from_pairs(pairs)
}

fn edit_page(signed_in: &SignedIn, id: &str, top: Markup, form: Markup) -> Response {
    let content = html! {
        p { a href="/console/policies" { "← All policies" } }
        (top)
        p.hint { "Policy " code { (id) } ". To switch it off, clear Active and save." }
        (form)
    };
    layout::page("Edit policy", "/policies", signed_in, content)
}

/// `GET /console/policies/{id}`.
pub(crate) async fn edit(State(console): State<Console>, Path(id): Path<String>, signed_in: SignedIn) -> Response {
    match console
        .api(&signed_in)
        .get(format!("/v1/policies/{}", segment(&id)))
        .await
    {
        Ok(policy) => {
            let action = format!("/console/policies/{}", segment(&id));
            let form = policy_form(&signed_in, &action, &fields_of(&policy), None, "Save policy");
            edit_page(&signed_in, &id, html! {}, form)
        }
        Err(problem) => layout::failure(
            http::StatusCode::from_u16(problem.status).unwrap_or(http::StatusCode::NOT_FOUND),
            "Policy not found",
            &problem.detail,
        ),
    }
}

/// `POST /console/policies/{id}`: saved with `PATCH /v1/policies/{id}`.
pub(crate) async fn update(State(console): State<Console>, Path(id): Path<String>, posted: Posted) -> Response {
    let Posted { signed_in, fields } = posted;
    let action = format!("/console/policies/{}", segment(&id));
    let saved = match policy_body(&fields) {
        Ok(body) => {
            console
                .api(&signed_in)
                .send(Method::PATCH, format!("/v1/policies/{}", segment(&id)), body)
                .await
        }
        Err(problem) => Err(problem),
    };
    match saved {
        Ok(policy) => {
            let form = policy_form(&signed_in, &action, &fields_of(&policy), None, "Save policy");
            edit_page(&signed_in, &id, layout::notice("ok", "Saved."), form)
        }
        Err(problem) => {
            let form = policy_form(&signed_in, &action, &fields, Some(&problem), "Save policy");
            edit_page(&signed_in, &id, html! {}, form)
        }
    }
}

/// `POST /console/policies/evaluate`: the dry run.
pub(crate) async fn evaluate(State(console): State<Console>, posted: Posted) -> Response {
    let Posted { signed_in, fields } = posted;
    let mut body = json!({"agent_id": fields.get("agent_id"), "scope": scopes(fields.get("scope"))});
    if !fields.get("target_service").is_empty() {
        body["target_service"] = Value::String(fields.get("target_service").to_owned());
    }
    let create = policy_form(&signed_in, "/console/policies", &new_policy(), None, "Create policy");
    match console.api(&signed_in).post("/v1/policies/evaluate", body).await {
        Ok(evaluation) => {
            let decision = evaluation.get("decision").cloned().unwrap_or_default();
            let top = html! {
                div.notice.ok role="status" {
                    p { "Effect: " (layout::badge(text(&evaluation, "effect"))) }
                    p { (text(&decision, "reason")) }
                    @if !text(&decision, "policy_name").is_empty() {
                        p { "Decided by " strong { (text(&decision, "policy_name")) } ", rule " (decision.get("rule_index").and_then(Value::as_u64).unwrap_or_default()) "." }
                    }
                }
            };
            let evaluate = evaluate_form(&signed_in, &fields, None);
            list_page(&console, &signed_in, top, create, evaluate).await
        }
        Err(problem) => {
            let evaluate = evaluate_form(&signed_in, &fields, Some(&problem));
            list_page(&console, &signed_in, html! {}, create, evaluate).await
        }
    }
}
