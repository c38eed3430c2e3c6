//! `/console/connections`: the deployment's provider catalogue and the account's OAuth
//! connections; Connect runs the provider's OAuth flow and comes back here, Disconnect revokes.

use axum::{
    extract::{Path, Query, State},
    response::{Html, IntoResponse, Response},
};
use maud::html;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    Console,
    api::{items, segment, text},
    layout,
    session::{Posted, SignedIn},
};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Back {
    /// Set by the OAuth callback's redirect: `connected` or `error`.
    #[serde(default)]
    status: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    notice: String,
}

async fn page(console: &Console, signed_in: &SignedIn, back: &Back, top: maud::Markup) -> Response {
    let api = console.api(signed_in);
    let (providers, connections) = futures::join!(api.get("/docs/providers"), api.get("/v1/connections"));
    let connections = connections
        .as_ref()
        .map(|page| items(page, "data").to_vec())
        .unwrap_or_default();
    let returned = match back.status.as_str() {
        "connected" => layout::notice("ok", &format!("Connected to {}.", back.provider)),
        "" => html! {},
        _ => layout::notice(
            "error",
            &format!("The connection to {} did not complete.", back.provider),
        ),
    };
    let content = html! {
        (returned)
        (top)
        @if back.notice == "disconnected" { (layout::notice("ok", "Disconnected; the provider was asked to revoke the grant.")) }
        @match &providers {
            Ok(catalogue) => div.table-wrap { table {
                thead { tr { th { "Provider" } th { "Kind" } th { "Connection" } th { span.visually-hidden { "Actions" } } } }
                tbody {
                    @for provider in items(catalogue, "data") {
                        @let code = text(provider, "code");
                        @let kind = text(provider, "type");
                        @let mine: Vec<&Value> = connections.iter().filter(|c| text(c, "provider") == code && c.get("end_user_id").is_none_or(Value::is_null)).collect();
                        tr {
                            td { strong { (text(provider, "name")) } " " code { (code) } }
                            td { (kind) }
                            td {
                                @for connection in &mine {
                                    (layout::badge(text(connection, "status"))) " since " (layout::time(text(connection, "created_at")))
                                }
                                @if mine.is_empty() { span.muted { "not connected" } }
                            }
                            td.actions {
                                @if kind == "oauth2" {
                                    @if provider.get("configured").and_then(Value::as_bool).unwrap_or(false) {
                                        (layout::action_button(signed_in, &format!("/console/connections/{}/connect", segment(code)), if mine.is_empty() { "Connect" } else { "Reconnect" }, None, false))
                                    } @else {
                                        span.muted { "no OAuth app configured" }
                                    }
                                    @if !mine.is_empty() {
                                        (layout::action_button(signed_in, &format!("/console/connections/{}/disconnect", segment(code)), "Disconnect", Some(&format!("Disconnect {code}? Agents lose access to it.")), true))
                                    }
                                } @else if kind == "api_key" {
                                    a href="/console/credentials" { "Set its key" }
                                }
                            }
                        }
                    }
                }
            } },
            Err(problem) => p.notice.error { (problem.detail) },
        }
    };
    layout::page("Connections", "/connections", signed_in, content)
}

/// `GET /console/connections` (also where a finished OAuth flow comes back).
pub(crate) async fn list(State(console): State<Console>, signed_in: SignedIn, Query(back): Query<Back>) -> Response {
    page(&console, &signed_in, &back, html! {}).await
}

/// `POST /console/connections/{provider}/connect`: starts the flow and sends the browser to the
/// provider, which sends it back to this page.
pub(crate) async fn connect(State(console): State<Console>, Path(provider): Path<String>, posted: Posted) -> Response {
    let back = format!("{}/console/connections", console.settings.public_url);
    // The seed document's camelCase body.
    let body = json!({"provider": provider, "redirectUri": back});
    match console.api(&posted.signed_in).post("/oauth/sessions", body).await {
        // Not a redirect: the page's `form-action 'self'` covers where a form's answer redirects
        // to, so a 303 to the provider would be blocked. A page that moves on by itself (and a
        // link, should it not) leaves as a navigation instead.
        Ok(session) => leaving_for(&provider, text(&session, "url")),
        Err(problem) => {
            page(
                &console,
                &posted.signed_in,
                &Back::default(),
                layout::problem_notice(&problem, &[]),
            )
            .await
        }
    }
}

/// A page that sends the browser on to `url` (the provider's authorization page).
fn leaving_for(provider: &str, url: &str) -> Response {
    let markup = layout::bare(
        "Connecting",
        html! {
            meta http-equiv="refresh" content=(format!("0;url={url}"));
            p { "Taking you to " strong { (provider) } " to authorize Latchkey…" }
            p { a href=(url) { "Continue to " (provider) } }
        },
    );
    Html(markup.into_string()).into_response()
}

/// `POST /console/connections/{provider}/disconnect`.
pub(crate) async fn disconnect(
    State(console): State<Console>,
    Path(provider): Path<String>,
    posted: Posted,
) -> Response {
    match console
        .api(&posted.signed_in)
        .delete(format!("/oauth/connections/{}", segment(&provider)))
        .await
    {
        Ok(_) => layout::see_other("/console/connections?notice=disconnected"),
        Err(problem) => {
            page(
                &console,
                &posted.signed_in,
                &Back::default(),
                layout::problem_notice(&problem, &[]),
            )
            .await
        }
    }
}
