//! The console: the web pages of the people behind the agents, served by the gateway at
//! `/console` (`/` leads there). Server-rendered HTML (maud), one small stylesheet, one small
//! script of our own and htmx for the live approvals queue; all embedded in the binary.
//!
//! The console has no rules of its own. A person signs in with an account API key (or certificate
//! JWT) and gets a server-side session ([`Backend::sign_in`]); every page then acts through the
//! gateway's REST routes as that account ([`Backend::call`]), so what a form may do, and what it
//! says when it may not, is exactly what the route does and says. See docs/console.md.

mod api;
mod assets;
mod backend;
mod layout;
mod pages;
mod security;
mod session;
mod signed_in;

use std::sync::Arc;

use axum::{
    Router, middleware,
    routing::{get, post},
};

pub use backend::{ApiAnswer, ApiCall, Backend, ConsoleSession, SessionError, StartedSession};
pub use security::CONTENT_SECURITY_POLICY;

use crate::{api::Api, signed_in::SignedIn};

/// Where the console lives.
pub const CONSOLE_PATH: &str = "/console";
pub(crate) const SIGN_IN_PATH: &str = "/console/sign-in";

/// How the console is served.
#[derive(Debug, Clone, Default)]
pub struct ConsoleSettings {
    /// Mark cookies `Secure`: the deployment is reached over https (`server.public_url`).
    pub secure_cookies: bool,
    /// Where people reach the deployment, without a trailing slash: where an OAuth flow started
    /// from the console comes back to.
    pub public_url: String,
}

/// The pages' state: the gateway behind them and the settings.
#[derive(Clone)]
pub(crate) struct Console {
    backend: Arc<dyn Backend>,
    settings: Arc<Settings>,
}

/// The settings as the pages use them.
pub(crate) struct Settings {
    secure_cookies: bool,
    public_url: String,
    /// `public_url`'s scheme and authority: the origin forms are posted from.
    public_origin: String,
}

impl Console {
    /// The REST routes as `signed_in`'s account.
    pub(crate) fn api<'a>(&'a self, signed_in: &'a SignedIn) -> Api<'a> {
        Api {
            backend: self.backend.as_ref(),
            session: &signed_in.session,
        }
    }
}

/// The console's routes (`/`, `/console` and below), with their security headers.
pub fn router(backend: Arc<dyn Backend>, settings: ConsoleSettings) -> Router {
    use pages::*;
    let console = Console {
        backend,
        settings: Arc::new(Settings {
            secure_cookies: settings.secure_cookies,
            public_origin: session::origin_of(&settings.public_url),
            public_url: settings.public_url,
        }),
    };
    Router::new()
        .route("/", get(overview::to_console))
        .route("/console/", get(overview::to_console))
        .route("/console", get(overview::show))
        .route("/console/assets/{hash}/{name}", get(assets::serve))
        .route("/console/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/console/sign-out", post(sign_in::sign_out))
        .route("/console/agents", get(agents::list).post(agents::create))
        .route("/console/agents/{id}/{change}", post(agents::change_status))
        .route("/console/tokens", get(tokens::show))
        .route("/console/tokens/issue", post(tokens::issue))
        .route("/console/tokens/verify", post(tokens::verify))
        .route("/console/tokens/revoke", post(tokens::revoke))
        .route("/console/policies", get(policies::list).post(policies::create))
        .route("/console/policies/evaluate", post(policies::evaluate))
        .route("/console/policies/{id}", get(policies::edit).post(policies::update))
        .route("/console/approvals", get(approvals::show))
        .route("/console/approvals/queue", get(approvals::queue))
        .route("/console/approvals/{id}/{decision}", post(approvals::decide))
        .route("/console/audit", get(audit::list))
        .route("/console/audit/verify", post(audit::verify))
        .route("/console/audit/export", get(audit::export))
        .route("/console/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/console/webhooks/{id}", get(webhooks::show))
        .route("/console/webhooks/{id}/{action}", post(webhooks::act))
        .route("/console/api-keys", get(api_keys::list).post(api_keys::create))
        .route("/console/api-keys/{id}/delete", post(api_keys::delete))
        .route("/console/connections", get(connections::list))
        .route("/console/connections/{provider}/connect", post(connections::connect))
        .route(
            "/console/connections/{provider}/disconnect",
            post(connections::disconnect),
        )
        .route("/console/credentials", get(credentials::show).post(credentials::save))
        .route(
            "/console/certificates",
            get(certificates::list).post(certificates::create),
        )
        .route("/console/certificates/{id}/revoke", post(certificates::revoke))
        .route("/console/domains", get(domains::list).post(domains::create))
        .route("/console/domains/{id}/verify", post(domains::verify))
        .route(
            "/console/organizations",
            get(organizations::list).post(organizations::create),
        )
        .route(
            "/console/organizations/{slug}/services",
            post(organizations::add_service),
        )
        .layer(middleware::from_fn(security::headers))
        .with_state(console)
}
