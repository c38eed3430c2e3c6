//! The account's connections: disconnecting a provider, the stored tokens' metadata
//! (`GET /oauth-tokens`, AGNT), and every connection of the account (`GET /v1/connections`).

use axum::{
    Json,
    extract::{Path, State},
};
use chrono::{DateTime, Utc};
use latchkey_errors::{ApiError, FieldError};
use latchkey_proto::oauth::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    bodies::{DisconnectedBody, EndUserParams, Envelope, OauthTokenBody, OauthTokenList, OauthTokensParams},
    iso_ms, success,
};
use crate::{
    openapi::responses as r,
    principal::Principal,
    problem::Problem,
    query::ValidQuery,
    routes::{constraints::ProviderCode, time_from_ms},
    state::AppState,
};

/// Disconnect a provider
///
/// Revokes the grant at the provider where it supports revocation, and deletes the stored tokens.
#[utoipa::path(
    delete,
    path = "/oauth/connections/{provider}",
    tag = "oauth",
    params(("provider" = ProviderCode, Path, description = "The provider code"), EndUserParams),
    responses(
        (status = 200, description = "Disconnected", body = Envelope<DisconnectedBody>),
        (status = 400, response = r::BadRequest),
        (status = 404, response = r::IntegrationNotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn disconnect(
    State(state): State<AppState>,
    principal: Principal,
    Path(provider): Path<String>,
    ValidQuery(params): ValidQuery<EndUserParams>,
) -> Result<Json<Envelope<DisconnectedBody>>, Problem> {
    let request = principal.grpc_request(pb::DisconnectRequest {
        provider: provider.clone(),
        end_user_id: params.end_user_id.unwrap_or_default(),
    });
    let done = state.oauth.clone().disconnect(request).await?.into_inner();
    Ok(Json(success(DisconnectedBody {
        connection_id: done.connection_id,
        provider,
        revoked_at_provider: done.revoked_at_provider,
    })))
}

/// Get OAuth tokens
///
/// The stored tokens' metadata for one identifier and resource (AGNT Connect).
#[utoipa::path(
    get,
    path = "/oauth-tokens",
    tag = "oauth",
    params(OauthTokensParams),
    responses(
        (status = 200, description = "The matching connections", body = OauthTokenList),
        (status = 400, response = r::BadRequest),
        r::Authenticated,
    )
)]
pub(crate) async fn oauth_tokens(
    State(state): State<AppState>,
    principal: Principal,
    ValidQuery(params): ValidQuery<OauthTokensParams>,
) -> Result<Json<OauthTokenList>, Problem> {
    let identifier_id = params.identifier_id.unwrap_or_default();
    let resource = params.resource.unwrap_or_default();
    let mut missing = Vec::new();
    if identifier_id.is_empty() {
        missing.push(FieldError::new("identifierId", "required"));
    }
    if resource.is_empty() {
        missing.push(FieldError::new("resource", "required"));
    }
    if !missing.is_empty() {
        return Err(Problem(ApiError::validation(missing)));
    }
    let request = principal.grpc_request(pb::ListConnectionsRequest {
        provider: resource,
        end_user_id: identifier_id,
    });
    let listed = state.oauth.clone().list_connections(request).await?.into_inner();
    let data = listed
        .connections
        .into_iter()
        .map(|connection| OauthTokenBody {
            id: connection.id,
            identifier_id: connection.end_user_id,
            resource: connection.provider,
            scopes: connection.scopes,
            status: connection.status,
            expires_at: iso_ms(connection.expires_at_ms),
            created_at: iso_ms(connection.created_at_ms),
        })
        .collect();
    Ok(Json(OauthTokenList { data }))
}

/// Only this provider's connections.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConnectionsParams {
    /// A provider code, e.g. `google`.
    #[param(value_type = Option<ProviderCode>)]
    pub provider: Option<String>,
}

/// One of the account's OAuth connections: never a token.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionBody {
    pub id: String,
    #[schema(example = "google")]
    pub provider: String,
    /// The end user the connection is for; `null`: the account's own.
    pub end_user_id: Option<String>,
    pub scopes: Vec<String>,
    /// `active` or `needs_reauthorization`.
    pub status: String,
    /// When the access token expires (it is refreshed before use).
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionList {
    pub data: Vec<ConnectionBody>,
}

/// List OAuth connections
///
/// Every OAuth connection of the account (each end user's too), oldest first: provider, scopes,
/// status and expiry. Never a token: `POST /tokens/fetch` gives one.
#[utoipa::path(
    get,
    path = "/v1/connections",
    tag = "oauth",
    params(ConnectionsParams),
    responses(
        (status = 200, description = "The connections", body = ConnectionList),
        (status = 400, response = r::BadRequest),
        r::Authenticated,
    )
)]
pub(crate) async fn list_connections(
    State(state): State<AppState>,
    principal: Principal,
    ValidQuery(params): ValidQuery<ConnectionsParams>,
) -> Result<Json<ConnectionList>, Problem> {
    let request = principal.grpc_request(pb::ListConnectionsRequest {
        provider: params.provider.unwrap_or_default(),
        end_user_id: String::new(),
    });
    let listed = state.oauth.clone().list_connections(request).await?.into_inner();
    let data = listed
        .connections
        .into_iter()
        .map(|connection| ConnectionBody {
            id: connection.id,
            provider: connection.provider,
            end_user_id: Some(connection.end_user_id).filter(|id| !id.is_empty()),
            scopes: connection.scopes,
            status: connection.status,
            expires_at: time_from_ms(connection.expires_at_ms),
            created_at: time_from_ms(connection.created_at_ms),
        })
        .collect();
    Ok(Json(ConnectionList { data }))
}
