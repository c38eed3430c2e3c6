//! `/console/certificates`: the account's signing certificates; a new one (its private key shown
//! once), revocation.

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
    let certificates = console.api(signed_in).get("/certificates").await;
    let content = html! {
        (top)
        @match &certificates {
            Ok(page) if items(page, "data").is_empty() => (layout::empty("No certificates yet.", "Create one to sign JWTs that authenticate as the account, or that services verify with its JWKS.")),
            Ok(page) => div.table-wrap { table {
                thead { tr { th { "Name" } th { "Key id" } th { "Algorithm" } th { "Status" } th { "Expires" } th { span.visually-hidden { "Actions" } } } }
                tbody {
                    @for certificate in items(page, "data") {
                        @let id = text(certificate, "id");
                        tr {
                            td { (text(certificate, "name")) }
                            td { code { (text(certificate, "kid")) } }
                            td { (text(certificate, "algorithm")) }
                            td { (layout::badge(text(certificate, "status"))) }
                            td { (layout::time(text(certificate, "expiresAt"))) }
                            td.actions {
                                @if text(certificate, "status") == "active" {
                                    (layout::action_button(signed_in, &format!("/console/certificates/{}/revoke", segment(id)), "Revoke",
                                        Some(&format!("Revoke {}? JWTs it signed are refused at once.", text(certificate, "name"))), true))
                                }
                            }
                        }
                    }
                }
            } },
            Err(problem) => p.notice.error { (problem.detail) },
        }
        (layout::add_form(signed_in, &layout::AddForm {
            heading: "Create a certificate",
            action: "/console/certificates",
            label: "Name",
            name: "name",
            hint: None,
            submit: "Create certificate",
        }))
    };
    layout::page("Certificates", "/certificates", signed_in, content)
}

/// `GET /console/certificates`.
pub(crate) async fn list(State(console): State<Console>, signed_in: SignedIn) -> Response {
    page(&console, &signed_in, html! {}).await
}

/// `POST /console/certificates`.
pub(crate) async fn create(State(console): State<Console>, posted: Posted) -> Response {
    let Posted { signed_in, fields } = posted;
    let top = match console
        .api(&signed_in)
        .post("/certificates", json!({"name": fields.get("name")}))
        .await
    {
        Ok(created) => {
            let certificate = created.get("certificate").cloned().unwrap_or_default();
            layout::secret_once(
                &format!("Private key of {}", text(&certificate, "name")),
                text(&created, "private_key"),
            )
        }
        Err(problem) => layout::problem_notice(&problem, &[]),
    };
    page(&console, &signed_in, top).await
}

/// `POST /console/certificates/{id}/revoke`.
pub(crate) async fn revoke(State(console): State<Console>, Path(id): Path<String>, posted: Posted) -> Response {
    let signed_in = posted.signed_in;
    let top = match console
        .api(&signed_in)
        .act(format!("/certificates/{}/revoke", segment(&id)))
        .await
    {
        Ok(_) => layout::notice("ok", "Revoked."),
        Err(problem) => layout::problem_notice(&problem, &[]),
    };
    page(&console, &signed_in, top).await
}
