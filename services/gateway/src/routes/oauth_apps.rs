//! `/v1/oauth-apps`: an account's own OAuth apps. `PUT /v1/oauth-apps/{provider}` registers (or
//! replaces) the client id and secret the account's sessions, exchanges, callbacks and refreshes of
//! that provider use instead of the deployment's; the secret goes to the vault and is never
//! returned: listings show the client id and the secret's last four characters.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use latchkey_proto::oauth::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{constraints::OauthProviderCode, oauth::iso_ms};
use crate::{json::ValidJson, openapi::responses as r, principal::Principal, problem::Problem, state::AppState};

/// An OAuth app registered with the provider.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OauthAppInput {
    /// Up to 512 bytes, no whitespace or control characters.
    #[schema(min_length = 1, max_length = 512, pattern = r"^[^\s\u0000-\u001f\u007f-\u009f]+$")]
    pub client_id: String,
    /// Kept in the vault, write-only; no endpoint returns it. Up to 2048 bytes, no whitespace or
    /// control characters.
    #[schema(min_length = 1, max_length = 2048, pattern = r"^[^\s\u0000-\u001f\u007f-\u009f]+$")]
    pub client_secret: String,
}

/// An account's own OAuth app: never its secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OauthAppBody {
    #[schema(example = "google")]
    pub provider: String,
    pub client_id: String,
    /// The secret's last four characters when it has at least 12, else `null`.
    pub client_secret_last4: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OauthAppList {
    pub data: Vec<OauthAppBody>,
}

fn body_of(app: pb::OauthApp) -> OauthAppBody {
    OauthAppBody {
        provider: app.provider,
        client_id: app.client_id,
        client_secret_last4: Some(app.client_secret_last4).filter(|last4| !last4.is_empty()),
        updated_at: iso_ms(app.updated_at_ms),
    }
}

/// Register the account's own OAuth app
///
/// Registers (or replaces) the account's app for an OAuth provider: from now on its sessions,
/// exchanges, callbacks and refreshes use this client instead of the deployment's. Register
/// Latchkey's callback (and any `/auth/{provider}` redirect URIs) with the app at the provider.
#[utoipa::path(
    put,
    path = "/v1/oauth-apps/{provider}",
    tag = "oauth",
    params(("provider" = OauthProviderCode, Path, description = "An OAuth provider's code (`GET /docs/providers`)")),
    request_body(content = OauthAppInput, content_type = "application/json"),
    responses(
        (status = 200, description = "The app, without its secret", body = OauthAppBody),
        r::Authenticated,
        r::JsonBody,
    )
)]
pub(crate) async fn put_oauth_app(
    State(state): State<AppState>,
    principal: Principal,
    Path(provider): Path<String>,
    ValidJson(body): ValidJson<OauthAppInput>,
) -> Result<Json<OauthAppBody>, Problem> {
    let request = principal.grpc_request(pb::SetOauthAppRequest {
        provider,
        client_id: body.client_id,
        client_secret: body.client_secret,
    });
    let app = state.oauth.clone().set_oauth_app(request).await?.into_inner();
    Ok(Json(body_of(app)))
}

/// List the account's own OAuth apps
#[utoipa::path(
    get,
    path = "/v1/oauth-apps",
    tag = "oauth",
    responses(
        (status = 200, description = "The account's own apps, by provider, without secrets", body = OauthAppList),
        r::Authenticated,
    )
)]
pub(crate) async fn list_oauth_apps(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<OauthAppList>, Problem> {
    let listed = state
        .oauth
        .clone()
        .list_oauth_apps(principal.grpc_request(pb::ListOauthAppsRequest {}))
        .await?
        .into_inner();
    Ok(Json(OauthAppList {
        data: listed.apps.into_iter().map(body_of).collect(),
    }))
}

/// Remove the account's own OAuth app
///
/// The deployment's app (if configured) is used again from the next session or refresh on.
/// Connections made with the removed app stay; their refreshes use the deployment's app.
#[utoipa::path(
    delete,
    path = "/v1/oauth-apps/{provider}",
    tag = "oauth",
    params(("provider" = OauthProviderCode, Path, description = "An OAuth provider's code")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, response = r::BadRequest),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn delete_oauth_app(
    State(state): State<AppState>,
    principal: Principal,
    Path(provider): Path<String>,
) -> Result<StatusCode, Problem> {
    state
        .oauth
        .clone()
        .delete_oauth_app(principal.grpc_request(pb::DeleteOauthAppRequest { provider }))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
