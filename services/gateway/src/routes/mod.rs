//! The gateway's routes and the middleware every request passes through.

mod agents;
mod ai;
mod api_keys;
mod approvals;
mod audit;
mod auth_flow;
mod certificates;
mod connect_links;
pub(crate) mod constraints;
mod credentials;
mod directory;
mod domains;
mod health;
mod oauth;
mod oauth_apps;
mod policies;
mod proxy;
mod tokens;
mod usage;
mod webhooks;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    middleware,
    routing::{any, get},
};
use chrono::{DateTime, Utc};
use latchkey_errors::{ApiError, ErrorCode};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};
use utoipa_swagger_ui::SwaggerUi;

use tokio_util::sync::CancellationToken;

use crate::{
    GatewayConfig, console, edge, mcp,
    openapi::{self, ApiDoc},
    problem,
    state::AppState,
};

/// The credential proxy's description: its path ends in a wildcard (`{*path}` to axum), which the
/// OpenAPI document writes as the parameter `{path}`, so the route is added apart from it.
#[derive(OpenApi)]
#[openapi(paths(proxy::proxy))]
struct ProxyDoc;

/// Where `/metrics` is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MetricsRoute {
    /// With every other route (no `server.metrics_listen`).
    Public,
    /// Only on a listener of its own: the public router answers 404 for it.
    Separate,
}

/// Every route with its OpenAPI description. Later slices add their `.routes(..)` here.
fn api(metrics: MetricsRoute) -> OpenApiRouter<AppState> {
    let api = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(api_keys::create_api_key, api_keys::list_api_keys))
        .routes(routes!(api_keys::delete_api_key))
        .routes(routes!(agents::create_agent, agents::list_agents))
        .routes(routes!(agents::get_agent))
        .routes(routes!(agents::pause_agent))
        .routes(routes!(agents::resume_agent))
        .routes(routes!(agents::revoke_agent, agents::revoke_agent_by_delete))
        .routes(routes!(tokens::issue_token))
        .routes(routes!(tokens::jwks))
        .routes(routes!(tokens::verify_token))
        .routes(routes!(tokens::verify_batch))
        .routes(routes!(tokens::revoke_token))
        .routes(routes!(tokens::delegate_token))
        .routes(routes!(policies::create_policy, policies::list_policies))
        .routes(routes!(policies::get_policy, policies::update_policy))
        .routes(routes!(policies::evaluate_policies))
        .routes(routes!(policies::get_policy_settings, policies::update_policy_settings))
        .routes(routes!(approvals::list_approvals))
        .routes(routes!(approvals::get_approval))
        .routes(routes!(approvals::approve_approval))
        .routes(routes!(approvals::deny_approval))
        .routes(routes!(audit::list_audit_entries))
        .routes(routes!(webhooks::create_webhook, webhooks::list_webhooks))
        .routes(routes!(webhooks::get_webhook, webhooks::delete_webhook))
        .routes(routes!(webhooks::rotate_webhook_secret))
        .routes(routes!(webhooks::enable_webhook))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::retry_delivery))
        .routes(routes!(webhooks::replay_webhook))
        .routes(routes!(webhooks::test_webhook))
        .routes(routes!(audit::export_audit_log))
        .routes(routes!(audit::verify_audit_chain))
        .routes(routes!(audit::list_checkpoints, audit::sign_checkpoint))
        .routes(routes!(audit::latest_checkpoint))
        .routes(routes!(audit::checkpoint_jwks))
        .routes(routes!(audit::service_analytics))
        .routes(routes!(oauth::create_session))
        .routes(routes!(oauth::callback))
        .routes(routes!(oauth::fetch_token))
        .routes(routes!(oauth::disconnect))
        .routes(routes!(oauth::list_providers))
        .routes(routes!(oauth::set_redirect_uris, oauth::get_redirect_uris))
        .routes(routes!(oauth::oauth_tokens))
        .routes(routes!(oauth::list_connections))
        .routes(routes!(oauth::provider_token))
        .routes(routes!(auth_flow::authorize))
        .routes(routes!(auth_flow::exchange))
        .routes(routes!(connect_links::create_connect_link))
        .routes(routes!(
            oauth::put_telegram_session,
            oauth::get_telegram_session,
            oauth::delete_telegram_session
        ))
        .routes(routes!(oauth_apps::list_oauth_apps))
        .routes(routes!(oauth_apps::put_oauth_app, oauth_apps::delete_oauth_app))
        .routes(routes!(credentials::get_credentials, credentials::put_credentials))
        .routes(routes!(
            certificates::create_certificate,
            certificates::list_certificates
        ))
        .routes(routes!(certificates::active_certificate))
        .routes(routes!(certificates::jwks))
        .routes(routes!(certificates::public_key))
        .routes(routes!(certificates::get_certificate, certificates::delete_certificate))
        .routes(routes!(certificates::revoke_certificate))
        .routes(routes!(domains::create_domain, domains::list_domains))
        .routes(routes!(domains::get_domain, domains::delete_domain))
        .routes(routes!(domains::verify_domain))
        .routes(routes!(directory::create_organization, directory::list_organizations))
        .routes(routes!(
            directory::get_organization,
            directory::update_organization,
            directory::delete_organization
        ))
        .routes(routes!(directory::create_service, directory::list_services))
        .routes(routes!(
            directory::get_service,
            directory::update_service,
            directory::delete_service
        ))
        .routes(routes!(directory::create_service_key, directory::list_service_keys))
        .routes(routes!(directory::delete_service_key))
        .routes(routes!(directory::get_service_info, directory::update_service_info))
        .routes(routes!(directory::list_users, directory::create_user))
        .routes(routes!(
            directory::get_user,
            directory::update_user,
            directory::delete_user
        ))
        .routes(routes!(directory::list_subscriptions, directory::create_subscription))
        .routes(routes!(
            directory::get_subscription,
            directory::update_subscription,
            directory::delete_subscription
        ))
        .routes(routes!(oauth::provider_token_consent))
        .routes(routes!(ai::context_summary))
        .routes(routes!(ai::provider_context))
        .routes(routes!(ai::service_context))
        .routes(routes!(ai::skill))
        .routes(routes!(mcp::protected_resource))
        .route(
            &format!("{}{}", mcp::METADATA_PATH, mcp::MCP_PATH),
            get(mcp::protected_resource),
        )
        .merge(OpenApiRouter::with_openapi(ProxyDoc::openapi()))
        .route("/proxy/{provider}/{service}/{*path}", any(proxy::proxy))
        .routes(routes!(usage::get_usage))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz));
    match metrics {
        MetricsRoute::Public => api.routes(routes!(health::metrics)),
        MetricsRoute::Separate => api,
    }
}

/// The OpenAPI document of every route the gateway can serve (`/metrics` included).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut document = api(MetricsRoute::Public).into_openapi();
    openapi::complete(&mut document);
    document
}

/// The whole application: routes, `/openapi.json` (the routes this router serves), `/docs`, the
/// MCP server at `/mcp` (whose tools call the rest in this process), and the middleware stack.
pub(crate) fn router(
    state: AppState,
    config: &GatewayConfig,
    metrics: MetricsRoute,
    shutdown: CancellationToken,
) -> Router {
    let (routes, mut document) = api(metrics).split_for_parts();
    openapi::complete(&mut document);
    constraints::describe_providers(&mut document, &state.catalogue);
    credentials::describe_providers(&mut document, &state.catalogue);
    let rest = routes
        .with_state(state.clone())
        .merge(SwaggerUi::new("/docs").url("/openapi.json", document))
        .fallback(not_found);
    // A tool call goes through the edge as a request from outside does (problem documents,
    // request ids, metrics, the timeout), only not through `/mcp` again.
    let edged = |router: Router| {
        router
            .layer(DefaultBodyLimit::max(config.body_limit_bytes))
            .layer(middleware::from_fn_with_state(
                edge::RequestTimeout(config.request_timeout()),
                edge::handle,
            ))
    };
    let tools_reach = edged(rest.clone());
    let with_mcp = mcp::mount(rest, tools_reach.clone(), &state, config, shutdown);
    edged(console::mount(with_mcp, tools_reach, &state))
}

/// `/metrics` and `/healthz` alone, for a listener of their own (`server.metrics_listen`).
pub(crate) fn metrics_only() -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(health::metrics))
        .route("/healthz", axum::routing::get(health::healthz))
}

async fn not_found() -> problem::Problem {
    problem::Problem(ApiError::new(
        ErrorCode::NotFound,
        "no route matches this path; /openapi.json lists them",
    ))
}

/// A proto timestamp (Unix milliseconds, 0 for none) as a UTC time.
pub(crate) fn time_from_ms(ms: i64) -> Option<DateTime<Utc>> {
    if ms == 0 {
        None
    } else {
        DateTime::from_timestamp_millis(ms)
    }
}
