//! Provider tokens: `POST /tokens/fetch` (Akhrot) and `POST /api/service/provider-tokens` (AuthOS),
//! which answers where to send the end user when there is no usable token: the hosted re-consent
//! page `GET /connect/provider-token/{state}`.

use axum::{
    Json,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use latchkey_errors::{ApiError, ErrorCode};
use latchkey_proto::{directory::v1 as di, oauth::v1 as pb};

use super::{
    bodies::{Envelope, FetchTokenBody, ProviderAccountBody, ProviderTokenBody, ProviderTokenRequestBody, TokenBody},
    iso_ms, required, success,
};
use crate::{
    json::ValidJson, openapi::responses as r, principal::Principal, problem::Problem, service_caller::ServiceCaller,
    state::AppState,
};

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
        (status = 403, response = r::Forbidden),
        (status = 404, response = r::IntegrationNotFound),
        (status = 502, response = r::UpstreamError),
        r::Authenticated,
        r::JsonBody,
    )
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

/// Request a provider token (service API)
///
/// For one of the calling service's users: `ok` with a usable token, or `action_required` with the
/// URL the end user must visit: Latchkey's hosted re-consent page
/// (`/connect/provider-token/{state}`), which starts the provider's authorization for that user
/// with the missing scopes and returns to `redirect_uri`. The connection is missing, revoked,
/// refused its refresh, or lacks a requested scope. The user must be the service's (404 as for a
/// missing one), the provider and scopes among those the service allows (403), the redirect URI one
/// it registered (400). Only OAuth providers: an API-key provider's key is the account's, not a
/// user's grant (403).
#[utoipa::path(
    post,
    path = "/api/service/provider-tokens",
    tag = "service-api",
    request_body(content = ProviderTokenRequestBody, content_type = "application/json"),
    responses(
        (status = 402, response = r::PlanLimit),
        (status = 200, description = "`ok` or `action_required`", body = ProviderTokenBody),
        (status = 502, response = r::UpstreamError),
        r::ServiceApi,
        r::JsonBody,
    )
)]
pub(crate) async fn provider_token(
    State(state): State<AppState>,
    caller: ServiceCaller,
    ValidJson(body): ValidJson<ProviderTokenRequestBody>,
) -> Result<Json<ProviderTokenBody>, Problem> {
    required("provider", &body.provider)?;
    required("user_id", &body.user_id)?;
    let requested = body.scopes.unwrap_or_default();
    let authorized = state
        .directory
        .clone()
        .authorize_provider_token(caller.grpc_request(di::AuthorizeProviderTokenRequest {
            service_id: caller.service_id.to_string(),
            user_id: body.user_id.clone(),
            provider: body.provider.clone(),
            scopes: requested.clone(),
            redirect_uri: body.redirect_uri.unwrap_or_default(),
        }))
        .await?
        .into_inner();
    let fetched = state
        .oauth
        .clone()
        .fetch_token(caller.grpc_request(pb::FetchTokenRequest {
            provider: body.provider.clone(),
            end_user_id: body.user_id.clone(),
        }))
        .await;
    let (code, granted) = match fetched {
        Ok(token) => {
            let token = token.into_inner();
            if token.r#type != "oauth2" {
                return Err(Problem(ApiError::new(
                    ErrorCode::Forbidden,
                    "the service API hands out its users' OAuth tokens only: an API-key provider's key is the \
                     account's",
                )));
            }
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
    // A single-use link to Latchkey's own page, bound to this user, these scopes and this redirect
    // URI: the end user's browser carries no key, and nothing it sends can change them.
    let link = state
        .oauth
        .clone()
        .create_connect_link(caller.grpc_request(pb::CreateConnectLinkRequest {
            provider: body.provider.clone(),
            end_user_id: body.user_id,
            redirect_uri: authorized.redirect_uri,
            scopes,
            flow: pb::SessionFlow::Callback.into(),
        }))
        .await?
        .into_inner();
    Ok(Json(ProviderTokenBody::ActionRequired {
        code,
        reauth_url: format!("{}/connect/provider-token/{}", state.public_url, link.token),
        missing_scopes,
        provider: body.provider,
    }))
}

/// Hosted re-consent
///
/// Where an `action_required` answer of `POST /api/service/provider-tokens` sends the end user
/// (`reauth_url`): redirects (302) to the provider's authorization page for that user and the
/// scopes it needs; the provider returns to Latchkey, which stores the connection and sends the
/// end user on to the redirect URI the request named (`?status=connected&provider=…&connection_id=…`
/// or `?status=error&error=…`), or answers itself when it named none. Needs no key: `state` is a single-use
/// secret that fixes the account, service user, provider, scopes and redirect URI; a used, expired
/// or unknown one is `SESSION_EXPIRED`.
#[utoipa::path(
    get,
    path = "/connect/provider-token/{state}",
    tag = "service-api",
    params(("state" = String, Path, description = "The state of the `reauth_url`, as given")),
    responses(
        (status = 302, description = "To the provider's authorization page",
            headers(("Location" = String, description = "The provider's authorization URL"))),
        (status = 400, response = r::BadRequest),
        (status = 502, response = r::UpstreamError),
        r::ServiceCall,
    )
)]
pub(crate) async fn provider_token_consent(
    State(state): State<AppState>,
    Path(link): Path<String>,
) -> Result<Response, Problem> {
    let request = tonic::Request::new(pb::OpenConnectLinkRequest {
        provider: String::new(),
        token: link,
    });
    let session = state.oauth.clone().open_connect_link(request).await?.into_inner();
    Ok((StatusCode::FOUND, [(header::LOCATION, session.url)]).into_response())
}
