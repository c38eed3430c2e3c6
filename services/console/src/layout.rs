//! The page shell and the pieces every page is built of: navigation, forms with their errors
//! beside the field, tables, empty states, times in the reader's zone, notices.

use axum::response::{Html, IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use maud::{DOCTYPE, Markup, html};

use crate::{
    api::ApiProblem,
    assets,
    signed_in::{CSRF_FIELD, SignedIn},
};

/// The console's sections, in the navigation's order: (path below /console, label).
pub(crate) const SECTIONS: [(&str, &str); 13] = [
    ("", "Overview"),
    ("/approvals", "Approvals"),
    ("/agents", "Agents"),
    ("/tokens", "Tokens"),
    ("/policies", "Policies"),
    ("/connections", "Connections"),
    ("/credentials", "Credentials"),
    ("/audit", "Audit log"),
    ("/webhooks", "Webhooks"),
    ("/api-keys", "API keys"),
    ("/certificates", "Certificates"),
    ("/domains", "Domains"),
    ("/organizations", "Organizations"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            // htmx must not add a stylesheet of its own: the policy allows only ours.
            meta name="htmx-config" content=r#"{"includeIndicatorCSS":false}"#;
            title { (title) " · Latchkey" }
            link rel="stylesheet" href=(assets::stylesheet().href());
            script src=(assets::htmx().href()) defer {}
            script src=(assets::script().href()) defer {}
        }
    }
}

/// A signed-in page: the navigation with `active` marked, the account, sign-out, and `content`.
pub(crate) fn page(title: &str, active: &str, signed_in: &SignedIn, content: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/console" { "Latchkey" }
                    span.account title="The signed-in account" { (signed_in.session.account_id) }
                    form.sign-out method="post" action="/console/sign-out" {
                        (csrf(signed_in))
                        button type="submit" { "Sign out" }
                        button type="submit" name="everywhere" value="1" title="End every session of this account" { "Sign out everywhere" }
                    }
                }
                nav aria-label="Sections" {
                    ul {
                        @for (path, label) in SECTIONS {
                            @let href = format!("/console{path}");
                            li {
                                @if path == active {
                                    a href=(href) aria-current="page" { (label) }
                                } @else {
                                    a href=(href) { (label) }
                                }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (content)
                }
            }
        }
    };
    Html(markup.into_string()).into_response()
}

/// A page outside the signed-in shell (sign-in, errors).
pub(crate) fn bare(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare {
                main id="main" {
                    p.brand { "Latchkey" }
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

/// A whole-page failure with `status`.
pub(crate) fn failure(status: StatusCode, title: &str, message: &str) -> Response {
    let markup = bare(
        title,
        html! {
            p.notice.error role="alert" { (message) }
            p { a href="/console" { "Back to the console" } }
        },
    );
    (status, Html(markup.into_string())).into_response()
}

/// 303 to `location` (after a form: the browser then GETs it).
pub(crate) fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The hidden CSRF field every form carries.
pub(crate) fn csrf(signed_in: &SignedIn) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(signed_in.csrf); }
}

/// A time, written in UTC and turned into the reader's zone by console.js.
pub(crate) fn time(rfc3339: &str) -> Markup {
    if rfc3339.is_empty() {
        return html! { span.muted { "—" } };
    }
    let shown = chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|time| {
            time.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_owned());
    html! { time datetime=(rfc3339) { (shown) } }
}

/// What an input is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Input {
    Text,
    Number,
    Area,
}

/// A labelled field with its errors (from the route's problem document) beside it.
pub(crate) fn field(
    label: &str,
    name: &str,
    value: &str,
    input: Input,
    hint: Option<&str>,
    problem: Option<&ApiProblem>,
) -> Markup {
    let errors = problem.map(|problem| problem.errors_for(name)).unwrap_or_default();
    let id = format!("field-{}", name.replace(['[', ']', '.'], "-"));
    let described = format!("{id}-note");
    let invalid = if errors.is_empty() { "false" } else { "true" };
    html! {
        div.field {
            label for=(id) { (label) }
            @match input {
                Input::Area => textarea id=(id) name=(name) rows="10" aria-invalid=(invalid) aria-describedby=(described) spellcheck="false" { (value) },
                Input::Number => input id=(id) name=(name) type="number" aria-invalid=(invalid) aria-describedby=(described) value=(value);,
                Input::Text => input id=(id) name=(name) type="text" aria-invalid=(invalid) aria-describedby=(described) value=(value);,
            }
            div id=(described) {
                @if let Some(hint) = hint { p.hint { (hint) } }
                @for error in &errors { p.field-error role="alert" { (error) } }
            }
        }
    }
}

/// The form that adds one thing named by one field: a section headed `heading`, posting `name`
/// to `action`.
pub(crate) struct AddForm<'a> {
    pub(crate) heading: &'a str,
    pub(crate) action: &'a str,
    pub(crate) label: &'a str,
    pub(crate) name: &'a str,
    pub(crate) hint: Option<&'a str>,
    pub(crate) submit: &'a str,
}

pub(crate) fn add_form(signed_in: &SignedIn, form: &AddForm<'_>) -> Markup {
    html! {
        section aria-labelledby="create" {
            h2 id="create" { (form.heading) }
            form method="post" action=(form.action) {
                (csrf(signed_in))
                (field(form.label, form.name, "", Input::Text, form.hint, None))
                button type="submit" { (form.submit) }
            }
        }
    }
}

/// The route's refusal, above the form, unless every error is already beside its field.
pub(crate) fn problem_notice(problem: &ApiProblem, fields: &[&str]) -> Markup {
    let unplaced: Vec<&(String, String)> = problem
        .errors
        .iter()
        .filter(|(name, _)| !fields.iter().any(|field| crate::api::belongs(name, field)))
        .collect();
    html! {
        div.notice.error role="alert" {
            p { (problem.detail) @if !problem.code.is_empty() { " " code.muted { (problem.code) } } }
            @if !unplaced.is_empty() {
                ul { @for (name, message) in unplaced { li { code { (name) } " " (message) } } }
            }
        }
    }
}

/// A notice after a change (`kind` is `ok` or `error`).
pub(crate) fn notice(kind: &str, message: &str) -> Markup {
    html! { div class=(format!("notice {kind}")) role="status" { (message) } }
}

/// What an empty list says, and what to do next.
pub(crate) fn empty(message: &str, next: &str) -> Markup {
    html! { div.empty { p { strong { (message) } } p { (next) } } }
}

/// A form posting to `action` with one button, confirmed first when `confirm` says what happens.
pub(crate) fn action_button(
    signed_in: &SignedIn,
    action: &str,
    label: &str,
    confirm: Option<&str>,
    danger: bool,
) -> Markup {
    html! {
        form.inline method="post" action=(action) data-confirm=[confirm] {
            (csrf(signed_in))
            button type="submit" class=[danger.then_some("danger")] { (label) }
        }
    }
}

/// A status as a badge.
pub(crate) fn badge(status: &str) -> Markup {
    html! { span class=(format!("badge badge-{}", status.replace(|c: char| !c.is_ascii_alphanumeric(), "-"))) { (status) } }
}

/// A value a person will copy, shown once.
pub(crate) fn secret_once(label: &str, secret: &str) -> Markup {
    html! {
        div.secret role="status" {
            p { strong { (label) } " — shown once. Copy it now; Latchkey keeps only its hash." }
            pre.secret-value data-secret="" { (secret) }
        }
    }
}

/// Pretty JSON for a `<pre>`.
pub(crate) fn json(value: &serde_json::Value) -> Markup {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    html! { pre.json { (text) } }
}
