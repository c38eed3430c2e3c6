//! `/console/api-keys`: the account's API keys (masked), a new one (shown once), deletion.

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
    let keys = console.api(signed_in).get("/v1/api-keys").await;
    let content = html! {
        (top)
        @match &keys {
            Ok(page) => div.table-wrap { table {
                thead { tr { th { "Name" } th { "Key" } th { "Created" } th { "Last used" } th { span.visually-hidden { "Actions" } } } }
                tbody {
                    @for key in items(page, "data") {
                        @let id = text(key, "id");
                        @let this_session = id == signed_in.session.actor_id;
                        tr {
                            td { (text(key, "name")) @if this_session { " " span.badge { "this sign-in" } } }
                            td { code { (text(key, "masked_key")) } }
                            td { (layout::time(text(key, "created_at"))) }
                            td { (layout::time(text(key, "last_used_at"))) }
                            td.actions {
                                (layout::action_button(signed_in, &format!("/console/api-keys/{}/delete", segment(id)), "Delete",
                                    Some(&if this_session { format!("Delete {}? You signed in with it, so this session ends too.", text(key, "name")) } else { format!("Delete {}? Anything using it is refused at once.", text(key, "name")) }), true))
                            }
                        }
                    }
                }
            } },
            Err(problem) => p.notice.error { (problem.detail) },
        }
        (layout::add_form(signed_in, &layout::AddForm {
            heading: "Create a key",
            action: "/console/api-keys",
            label: "Name",
            name: "name",
            hint: Some("What uses it, e.g. ci-deploy."),
            submit: "Create key",
        }))
    };
    layout::page("API keys", "/api-keys", signed_in, content)
}

/// `GET /console/api-keys`.
pub(crate) async fn list(State(console): State<Console>, signed_in: SignedIn) -> Response {
    page(&console, &signed_in, html! {}).await
}

/// `POST /console/api-keys`.
pub(crate) async fn create(State(console): State<Console>, posted: Posted) -> Response {
    let Posted { signed_in, fields } = posted;
    let body = match fields.get("name") {
        "" => json!({}),
        name => json!({"name": name}),
    };
    let top = match console.api(&signed_in).post("/v1/api-keys", body).await {
        Ok(created) => layout::secret_once(&format!("API key {}", text(&created, "name")), text(&created, "key")),
        Err(problem) => layout::problem_notice(&problem, &[]),
    };
    page(&console, &signed_in, top).await
}

/// `POST /console/api-keys/{id}/delete`.
pub(crate) async fn delete(State(console): State<Console>, Path(id): Path<String>, posted: Posted) -> Response {
    let signed_in = posted.signed_in;
    match console
        .api(&signed_in)
        .delete(format!("/v1/api-keys/{}", segment(&id)))
        .await
    {
        // The session's own key: the session ended with it.
        Ok(_) if id == signed_in.session.actor_id => layout::see_other("/console/sign-in"),
        Ok(_) => page(&console, &signed_in, layout::notice("ok", "Deleted.")).await,
        Err(problem) => page(&console, &signed_in, layout::problem_notice(&problem, &[])).await,
    }
}
