//! OAuth connections and provider tokens (Akhrot seeds 000/001, AGNT 003): sessions, the callback
//! providers send the end user back to, `/tokens/fetch`, disconnect, the provider catalogue, the
//! account's allowed redirect URIs and the stored tokens' metadata. Field names are the seeds'
//! (camelCase); `/tokens/fetch` and `/oauth/sessions` answer in Akhrot's `{status, data}` envelope.

use axum::{
    Json,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, SecondsFormat, Utc};
use latchkey_errors::{ApiError, ErrorCode, FieldError};
use latchkey_proto::oauth::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::constraints::{OauthProviderCode, ProviderCode};
use crate::{
    auth::Principal, json::ValidJson, openapi::responses as r, problem::Problem, query::ValidQuery, state::AppState,
};

/// Akhrot's timestamp format: `2024-01-15T12:00:00.000Z`; `None` for 0 (no expiry).
pub(super) fn iso_ms(ms: i64) -> Option<String> {
    if ms == 0 {
        return None;
    }
    DateTime::<Utc>::from_timestamp_millis(ms).map(|time| time.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Akhrot's success envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Always `success`.
    #[schema(example = "success")]
    pub status: &'static str,
    pub data: T,
}

fn success<T>(data: T) -> Envelope<T> {
    Envelope {
        status: "success",
        data,
    }
}

pub(super) fn required(field: &str, value: &str) -> Result<(), Problem> {
    if value.trim().is_empty() {
        return Err(Problem(ApiError::validation(vec![FieldError::new(field, "required")])));
    }
    Ok(())
}

/// A new OAuth session.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateSessionBody {
    /// The provider code (`GET /docs/providers`).
    #[schema(value_type = OauthProviderCode, example = "google")]
    pub provider: String,
    /// Where the end user is sent back after authorizing, with `status`, `provider` and either
    /// `connection_id` or `error` in the query. Must be one of the account's redirect URIs
    /// (`PUT /oauth/redirect-uris`), exactly. Left out: the flow ends on Latchkey's own page.
    #[schema(
        format = "uri",
        max_length = 2048,
        pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]+([/?][^\s#]*)?$"
    )]
    pub redirect_uri: Option<String>,
    /// Up to 50 scopes to ask for, each printable ASCII without spaces, `"` or `\`, at most 256
    /// characters; the provider's defaults when left out or empty.
    #[schema(max_items = 50, min_length = 1, max_length = 256, pattern = r"^[!#-\[\]-~]+$")]
    pub scopes: Option<Vec<String>>,
    /// The end user the connection is for (several per account and provider), up to 256 bytes;
    /// none: the account.
    #[schema(max_length = 256)]
    pub end_user_id: Option<String>,
}

/// A session: the URL the end user must visit.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionBody {
    pub url: String,
    pub session_id: String,
    /// The session expires 10 minutes after creation (`SESSION_EXPIRED` after).
    pub expires_at: Option<String>,
}

/// Create an OAuth session
///
/// Answers the provider URL the end user must visit; single-use state, PKCE S256.
#[utoipa::path(
    post,
    path = "/oauth/sessions",
    tag = "oauth",
    request_body(content = CreateSessionBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The session", body = Envelope<SessionBody>),
        (status = 400, response = r::BadRequest),
        (status = 401, response = r::Unauthorized),
        (status = 413, response = r::PayloadTooLarge),
        (status = 415, response = r::UnsupportedMediaType),
        (status = 429, response = r::RateLimited),
        (status = 500, response = r::InternalError),
        (status = 502, response = r::UpstreamError),
        (status = 503, response = r::Unavailable),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn create_session(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<CreateSessionBody>,
) -> Result<(StatusCode, Json<Envelope<SessionBody>>), Problem> {
    required("provider", &body.provider)?;
    let request = principal.grpc_request(pb::CreateSessionRequest {
        provider: body.provider,
        redirect_uri: body.redirect_uri.unwrap_or_default(),
        scopes: body.scopes.unwrap_or_default(),
        end_user_id: body.end_user_id.unwrap_or_default(),
        flow: pb::SessionFlow::Callback.into(),
    });
    let session = state.oauth.clone().create_session(request).await?.into_inner();
    Ok((
        StatusCode::CREATED,
        Json(success(SessionBody {
            url: session.url,
            session_id: session.session_id,
            expires_at: iso_ms(session.expires_at_ms),
        })),
    ))
}

/// What the provider sends the end user back with. Other parameters providers add (`iss`, `scope`,
/// Google's `authuser`, …) are ignored: the state alone binds the session and its provider.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackParams {
    /// The session's state, as the provider sends it back; a callback without it is refused.
    #[param(required = true, min_length = 1)]
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// A completed connection, when the session named no redirect URI to send the end user to.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallbackBody {
    /// `connected` or `error`.
    pub status: &'static str,
    /// `connected`, or the error: the provider's (`access_denied`, `invalid_grant`, …) or
    /// `invalid_state`, `session_expired`, `temporarily_unavailable`.
    pub outcome: String,
    pub provider: String,
    pub connection_id: Option<String>,
    pub message: String,
}

/// OAuth callback
///
/// Where providers send the end user back. Redirects (303) to the session's redirect URI with the
/// outcome in its query; without one, answers the outcome itself: 200 when connected, else a problem
/// (`SESSION_EXPIRED` for an expired session, `VALIDATION_ERROR` naming the outcome otherwise:
/// `invalid_state` for an unknown or replayed state, or the provider's error such as `access_denied`).
#[utoipa::path(
    get,
    path = "/oauth/callback",
    tag = "oauth",
    params(CallbackParams),
    responses(
        (status = 200, description = "Connected; the session named no redirect URI", body = CallbackBody),
        (status = 303, description = "To the session's redirect URI, with the outcome in the query",
            headers(("Location" = String, description = "redirectUri?status=connected&provider=…&connection_id=… or ?status=error&error=…"))),
        (status = 400, response = r::BadRequest),
        (status = 500, response = r::InternalError),
        (status = 503, response = r::Unavailable),
    )
)]
pub(crate) async fn callback(
    State(state): State<AppState>,
    ValidQuery(params): ValidQuery<CallbackParams>,
) -> Result<Response, Problem> {
    let request = tonic::Request::new(pb::CompleteCallbackRequest {
        state: params.state.unwrap_or_default(),
        code: params.code.unwrap_or_default(),
        error: params.error.unwrap_or_default(),
        error_description: params.error_description.unwrap_or_default(),
    });
    let outcome = state.oauth.clone().complete_callback(request).await?.into_inner();
    if !outcome.redirect_to.is_empty() {
        return Ok((StatusCode::SEE_OTHER, [(header::LOCATION, outcome.redirect_to)]).into_response());
    }
    match outcome.outcome.as_str() {
        "connected" => Ok(Json(CallbackBody {
            status: "connected",
            outcome: outcome.outcome,
            provider: outcome.provider,
            connection_id: Some(outcome.connection_id).filter(|id| !id.is_empty()),
            message: outcome.message,
        })
        .into_response()),
        "session_expired" => Err(Problem(ApiError::new(ErrorCode::SessionExpired, outcome.message))),
        other => Err(Problem(ApiError::validation(vec![FieldError::new(
            "outcome",
            format!("{other}: {}", outcome.message),
        )]))),
    }
}

/// Which credential to fetch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FetchTokenBody {
    #[schema(value_type = ProviderCode, example = "google")]
    pub provider: String,
    /// The end user whose connection to use; none: the account's own.
    pub end_user_id: Option<String>,
}

/// A usable credential.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenBody {
    pub access_token: String,
    /// `null` for credentials that do not expire (API keys).
    pub expires_at: Option<String>,
    /// The granted scopes.
    pub scope: Vec<String>,
    pub provider_email: Option<String>,
    /// `oauth2`, `api_key` or `mtproto`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Telegram only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_id: Option<String>,
    /// Telegram only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_hash: Option<String>,
}

/// Fetch a provider token
///
/// An OAuth access token (refreshed first when it is close to expiry), an API-key provider's key,
/// or Telegram's MTProto session with its api id and hash.
#[utoipa::path(
    post,
    path = "/tokens/fetch",
    tag = "oauth",
    request_body(content = FetchTokenBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The credential", body = Envelope<TokenBody>),
        (status = 400, response = r::BadRequest),
        (status = 401, response = r::Unauthorized),
        (status = 403, response = r::Forbidden),
        (status = 404, response = r::IntegrationNotFound),
        (status = 413, response = r::PayloadTooLarge),
        (status = 415, response = r::UnsupportedMediaType),
        (status = 429, response = r::RateLimited),
        (status = 500, response = r::InternalError),
        (status = 502, response = r::UpstreamError),
        (status = 503, response = r::Unavailable),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn fetch_token(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<FetchTokenBody>,
) -> Result<Json<Envelope<TokenBody>>, Problem> {
    required("provider", &body.provider)?;
    let request = principal.grpc_request(pb::FetchTokenRequest {
        provider: body.provider,
        end_user_id: body.end_user_id.unwrap_or_default(),
    });
    let token = state.oauth.clone().fetch_token(request).await?.into_inner();
    let mtproto = token.r#type == "mtproto";
    Ok(Json(success(TokenBody {
        access_token: token.access_token,
        expires_at: iso_ms(token.expires_at_ms),
        scope: token.scopes,
        provider_email: Some(token.provider_email).filter(|email| !email.is_empty()),
        kind: token.r#type,
        api_id: mtproto.then_some(token.api_id),
        api_hash: mtproto.then_some(token.api_hash),
    })))
}

/// Which end user's connection.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EndUserParams {
    pub end_user_id: Option<String>,
}

/// A disconnected provider.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DisconnectedBody {
    pub connection_id: String,
    pub provider: String,
    /// Whether the provider confirmed it revoked the grant (false: it offers no revocation).
    pub revoked_at_provider: bool,
}

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
        (status = 401, response = r::Unauthorized),
        (status = 404, response = r::IntegrationNotFound),
        (status = 429, response = r::RateLimited),
        (status = 500, response = r::InternalError),
        (status = 503, response = r::Unavailable),
    ),
    security(("bearer" = []), ("api_key" = []))
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

/// A provider's service: what its tokens reach.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderServiceBody {
    pub code: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub api_base_url: String,
}

/// A provider this deployment enables.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderBody {
    /// The code for `/tokens/fetch` and `/oauth/sessions`.
    pub code: String,
    pub name: String,
    /// `oauth2`, `api_key` or `mtproto`.
    #[serde(rename = "type")]
    pub kind: String,
    pub default_scopes: Vec<String>,
    pub services: Vec<ProviderServiceBody>,
    pub docs_url: String,
    /// OAuth providers: whether the deployment has an OAuth app for it (an account can register
    /// its own). API-key providers: always true.
    pub configured: bool,
}

/// The enabled providers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderList {
    pub data: Vec<ProviderBody>,
}

/// Supported providers
#[utoipa::path(
    get,
    path = "/docs/providers",
    tag = "oauth",
    responses(
        (status = 200, description = "The providers this deployment enables", body = ProviderList),
        (status = 500, response = r::InternalError),
        (status = 503, response = r::Unavailable),
    )
)]
pub(crate) async fn list_providers(State(state): State<AppState>) -> Result<Json<ProviderList>, Problem> {
    let listed = state
        .oauth
        .clone()
        .list_providers(tonic::Request::new(pb::ListProvidersRequest {}))
        .await?
        .into_inner();
    let data = listed
        .providers
        .into_iter()
        .map(|provider| ProviderBody {
            code: provider.code,
            name: provider.name,
            kind: provider.kind,
            default_scopes: provider.default_scopes,
            services: provider
                .services
                .into_iter()
                .map(|service| ProviderServiceBody {
                    code: service.code,
                    name: service.name,
                    scopes: service.scopes,
                    api_base_url: service.api_base_url,
                })
                .collect(),
            docs_url: provider.docs_url,
            configured: provider.configured,
        })
        .collect();
    Ok(Json(ProviderList { data }))
}

/// The account's allowed redirect URIs.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RedirectUrisBody {
    /// Absolute http(s) URLs without a fragment, up to 2048 characters, matched exactly; at most 50.
    #[schema(
        max_items = 50,
        format = "uri",
        max_length = 2048,
        pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]+([/?][^\s#]*)?$"
    )]
    pub redirect_uris: Vec<String>,
}

/// Replace the allowed redirect URIs
///
/// The redirect URIs `POST /oauth/sessions` may name, matched exactly.
#[utoipa::path(
    put,
    path = "/oauth/redirect-uris",
    tag = "oauth",
    request_body(content = RedirectUrisBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The list now", body = RedirectUrisBody,
            links(
                ("CreateSession" = (operation_id = "create_session",
                    request_body = json!({"redirectUri": "$response.body#/redirectUris/0"}),
                    description = "A session that sends the end user back to an allowed redirect URI")),
                ("Authorize" = (operation_id = "authorize", parameters(("redirectUri" = "$response.body#/redirectUris/0")),
                    description = "An authorization for an allowed redirect URI")),
                ("ProviderToken" = (operation_id = "provider_token",
                    request_body = json!({"redirect_uri": "$response.body#/redirectUris/0"}),
                    description = "A provider token whose re-authorization returns to an allowed redirect URI")),
            )),
        (status = 400, response = r::BadRequest),
        (status = 401, response = r::Unauthorized),
        (status = 413, response = r::PayloadTooLarge),
        (status = 415, response = r::UnsupportedMediaType),
        (status = 429, response = r::RateLimited),
        (status = 500, response = r::InternalError),
        (status = 503, response = r::Unavailable),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn set_redirect_uris(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<RedirectUrisBody>,
) -> Result<Json<RedirectUrisBody>, Problem> {
    let request = principal.grpc_request(pb::SetRedirectUrisRequest {
        redirect_uris: body.redirect_uris,
    });
    let listed = state.oauth.clone().set_redirect_uris(request).await?.into_inner();
    Ok(Json(RedirectUrisBody {
        redirect_uris: listed.redirect_uris,
    }))
}

/// List the allowed redirect URIs
#[utoipa::path(
    get,
    path = "/oauth/redirect-uris",
    tag = "oauth",
    responses(
        (status = 200, description = "The account's allowed redirect URIs", body = RedirectUrisBody),
        (status = 401, response = r::Unauthorized),
        (status = 429, response = r::RateLimited),
        (status = 500, response = r::InternalError),
        (status = 503, response = r::Unavailable),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn get_redirect_uris(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<RedirectUrisBody>, Problem> {
    let request = principal.grpc_request(pb::GetRedirectUrisRequest {});
    let listed = state.oauth.clone().get_redirect_uris(request).await?.into_inner();
    Ok(Json(RedirectUrisBody {
        redirect_uris: listed.redirect_uris,
    }))
}

/// Which stored tokens (AGNT).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OauthTokensParams {
    /// The user or identity the tokens belong to (the end user of the connection).
    #[param(required = true, min_length = 1)]
    pub identifier_id: Option<String>,
    /// The provider, e.g. `google`, `microsoft`.
    #[param(required = true, min_length = 1)]
    pub resource: Option<String>,
}

/// A stored OAuth token's metadata: never the token.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OauthTokenBody {
    pub id: String,
    pub identifier_id: String,
    pub resource: String,
    pub scopes: Vec<String>,
    /// `active` or `needs_reauthorization`.
    pub status: String,
    pub expires_at: Option<String>,
    pub created_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OauthTokenList {
    pub data: Vec<OauthTokenBody>,
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
        (status = 401, response = r::Unauthorized),
        (status = 429, response = r::RateLimited),
        (status = 500, response = r::InternalError),
        (status = 503, response = r::Unavailable),
    ),
    security(("bearer" = []), ("api_key" = []))
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

/// A backend asks for an end user's provider token (AuthOS).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderTokenRequestBody {
    /// An API-key provider without a stored key is refused (400: store it with `PUT /credentials`),
    /// one whose key is write-only too (403).
    #[schema(value_type = ProviderCode, example = "google")]
    pub provider: String,
    /// The end user, up to 256 bytes; none: the account's own connection.
    #[schema(max_length = 256)]
    pub user_id: Option<String>,
    /// Scopes the caller needs, written as for `POST /oauth/sessions`; any the connection lacks make
    /// the answer `action_required`.
    #[schema(max_items = 50, min_length = 1, max_length = 256, pattern = r"^[!#-\[\]-~]+$")]
    pub scopes: Option<Vec<String>>,
    /// Where the end user returns after re-authorizing (one of the account's redirect URIs).
    #[schema(
        format = "uri",
        max_length = 2048,
        pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]+([/?][^\s#]*)?$"
    )]
    pub redirect_uri: Option<String>,
}

/// The provider account a token acts as.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderAccountBody {
    /// The connection's id.
    pub id: String,
    pub email: Option<String>,
}

/// `ok` with the token, or `action_required` with where to send the end user.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ProviderTokenBody {
    Ok {
        access_token: String,
        expires_at: Option<String>,
        scopes: Vec<String>,
        provider: String,
        account: ProviderAccountBody,
    },
    ActionRequired {
        /// `connection_required` (never connected or disconnected), `reauthorization_required`
        /// (the provider refused the refresh), or `insufficient_scope` (incremental authorization).
        code: &'static str,
        /// Send the end user here, exactly as given.
        reauth_url: String,
        missing_scopes: Vec<String>,
        provider: String,
    },
}

/// Request a provider token (service API)
///
/// `ok` with a usable token, or `action_required` with the URL the end user must visit: the
/// connection is missing, revoked, refused its refresh, or lacks a requested scope.
#[utoipa::path(
    post,
    path = "/api/service/provider-tokens",
    tag = "oauth",
    request_body(content = ProviderTokenRequestBody, content_type = "application/json"),
    responses(
        (status = 200, description = "`ok` or `action_required`", body = ProviderTokenBody),
        (status = 400, response = r::BadRequest),
        (status = 401, response = r::Unauthorized),
        (status = 403, response = r::Forbidden),
        (status = 413, response = r::PayloadTooLarge),
        (status = 415, response = r::UnsupportedMediaType),
        (status = 429, response = r::RateLimited),
        (status = 500, response = r::InternalError),
        (status = 502, response = r::UpstreamError),
        (status = 503, response = r::Unavailable),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn provider_token(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<ProviderTokenRequestBody>,
) -> Result<Json<ProviderTokenBody>, Problem> {
    required("provider", &body.provider)?;
    let end_user_id = body.user_id.unwrap_or_default();
    let requested = body.scopes.unwrap_or_default();
    let fetched = state
        .oauth
        .clone()
        .fetch_token(principal.grpc_request(pb::FetchTokenRequest {
            provider: body.provider.clone(),
            end_user_id: end_user_id.clone(),
        }))
        .await;
    let (code, granted) = match fetched {
        Ok(token) => {
            let token = token.into_inner();
            let missing: Vec<String> = requested
                .iter()
                .filter(|s| !token.scopes.contains(s))
                .cloned()
                .collect();
            if missing.is_empty() {
                return Ok(Json(ProviderTokenBody::Ok {
                    access_token: token.access_token,
                    expires_at: iso_ms(token.expires_at_ms),
                    scopes: token.scopes,
                    provider: body.provider,
                    account: ProviderAccountBody {
                        id: token.connection_id,
                        email: Some(token.provider_email).filter(|email| !email.is_empty()),
                    },
                }));
            }
            ("insufficient_scope", token.scopes)
        }
        Err(status) => match ApiError::from_status(&status).code {
            ErrorCode::IntegrationNotFound => ("connection_required", Vec::new()),
            ErrorCode::TokenExpired => ("reauthorization_required", Vec::new()),
            _ => return Err(status.into()),
        },
    };
    let missing_scopes: Vec<String> = requested.iter().filter(|s| !granted.contains(s)).cloned().collect();
    // Incremental authorization: ask for what the connection has plus what is missing.
    let mut scopes = granted;
    scopes.extend(missing_scopes.iter().cloned());
    let session = state
        .oauth
        .clone()
        .create_session(principal.grpc_request(pb::CreateSessionRequest {
            provider: body.provider.clone(),
            redirect_uri: body.redirect_uri.unwrap_or_default(),
            scopes,
            end_user_id,
            flow: pb::SessionFlow::Callback.into(),
        }))
        .await?
        .into_inner();
    Ok(Json(ProviderTokenBody::ActionRequired {
        code,
        reauth_url: session.url,
        missing_scopes,
        provider: body.provider,
    }))
}
