//! `/console/organizations`: the account's organizations and their services (AuthOS).

use axum::{
    extract::{Path, State},
    response::Response,
};
use maud::{Markup, html};
use serde_json::{Value, json};

use crate::{
    Console,
    api::{items, segment, text},
    layout::{self, Input, field},
    session::{Posted, SignedIn},
};

async fn page(console: &Console, signed_in: &SignedIn, top: Markup) -> Response {
    let api = console.api(signed_in);
    let organizations = api.get("/api/organizations").await;
    let slugs: Vec<String> = organizations
        .as_ref()
        .map(|page| {
            items(page, "organizations")
                .iter()
                .map(|org| text(org, "slug").to_owned())
                .collect()
        })
        .unwrap_or_default();
    let listed = futures::future::join_all(
        slugs
            .iter()
            .map(|slug| api.get(format!("/api/organizations/{}/services", segment(slug)))),
    )
    .await;
    let services: Vec<(String, _)> = slugs.into_iter().zip(listed).collect();
    let content = html! {
        (top)
        @match &organizations {
            Ok(page) if items(page, "organizations").is_empty() => (layout::empty("No organizations yet.", "Create one to register the services whose users connect their accounts through Latchkey.")),
            Ok(page) => @for organization in items(page, "organizations") {
                section.organization {
                    h2 { (text(organization, "name")) " " code { (text(organization, "slug")) } }
                    @if let Some((_, listed)) = services.iter().find(|(slug, _)| slug == text(organization, "slug")) {
                        @match listed {
                            Ok(page) if items(page, "services").is_empty() => p.muted { "No services yet." },
                            Ok(page) => ul { @for service in items(page, "services") {
                                li { strong { (text(service, "name")) } " " code { (text(service, "slug")) } " · " (text(service, "service_type"))
                                    @if !items(service, "allowed_providers").is_empty() { " · providers: " @for provider in items(service, "allowed_providers") { code { (provider.as_str().unwrap_or_default()) } " " } } }
                            } },
                            Err(problem) => p.notice.error { (problem.detail) },
                        }
                    }
                    @let slug = text(organization, "slug");
                    details {
                        summary { "Add a service to " (text(organization, "name")) }
                        form method="post" action=(format!("/console/organizations/{}/services", segment(slug))) {
                            (layout::csrf(signed_in))
                            div.grid {
                                div.field {
                                    label for=(format!("service-name-{slug}")) { "Name" }
                                    input id=(format!("service-name-{slug}")) name="name" type="text";
                                }
                                div.field {
                                    label for=(format!("service-slug-{slug}")) { "Slug" }
                                    input id=(format!("service-slug-{slug}")) name="slug" type="text";
                                }
                            }
                            button type="submit" { "Add service" }
                        }
                    }
                    p.hint { (organization.get("service_count").and_then(Value::as_u64).unwrap_or_default()) " service(s)" }
                }
            },
            Err(problem) => p.notice.error { (problem.detail) },
        }
        section aria-labelledby="create" {
            h2 id="create" { "Create an organization" }
            form method="post" action="/console/organizations" {
                (layout::csrf(signed_in))
                div.grid {
                    (field("Name", "name", "", Input::Text, None, None))
                    (field("Slug", "slug", "", Input::Text, Some("Lowercase letters, digits and hyphens; in the service API's paths."), None))
                }
                button type="submit" { "Create organization" }
            }
        }
    };
    layout::page("Organizations", "/organizations", signed_in, content)
}

/// `GET /console/organizations`.
pub(crate) async fn list(State(console): State<Console>, signed_in: SignedIn) -> Response {
    page(&console, &signed_in, html! {}).await
}

/// `POST /console/organizations`.
pub(crate) async fn create(State(console): State<Console>, posted: Posted) -> Response {
    let Posted { signed_in, fields } = posted;
    let body = json!({"name": fields.get("name"), "slug": fields.get("slug")});
    let top = match console.api(&signed_in).post("/api/organizations", body).await {
        Ok(organization) => layout::notice("ok", &format!("Created {}.", text(&organization, "name"))),
        Err(problem) => layout::problem_notice(&problem, &[]),
    };
    page(&console, &signed_in, top).await
}

/// `POST /console/organizations/{slug}/services`.
pub(crate) async fn add_service(
    State(console): State<Console>,
    Path(organization): Path<String>,
    posted: Posted,
) -> Response {
    let Posted { signed_in, fields } = posted;
    let body = json!({"name": fields.get("name"), "slug": fields.get("slug")});
    let path = format!("/api/organizations/{}/services", segment(&organization));
    let top = match console.api(&signed_in).post(path, body).await {
        Ok(service) => layout::notice("ok", &format!("Added {}.", text(&service, "name"))),
        Err(problem) => layout::problem_notice(&problem, &[]),
    };
    page(&console, &signed_in, top).await
}
