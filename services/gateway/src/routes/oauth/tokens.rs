//! Provider tokens: `POST /tokens/fetch` (Akhrot) and `POST /api/service/provider-tokens` (AuthOS),
//! which answers where to send the end user when there is no usable token.

use axum::{Json, extract::State};
use latchkey_errors::{ApiError, ErrorCode};
use latchkey_proto::oauth::v1 as pb;

use super::{
    bodies::{Envelope, FetchTokenBody, ProviderAccountBody, ProviderTokenBody, ProviderTokenRequestBody, TokenBody},
    iso_ms, required, success,
};
use crate::{json::ValidJson, openapi::responses as r, principal::Principal, problem::Problem, state::AppState};

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
/// `ok` with a usable token, or `action_required` with the URL the end user must visit: the
/// connection is missing, revoked, refused its refresh, or lacks a requested scope.
#[utoipa::path(
    post,
    path = "/api/service/provider-tokens",
    tag = "oauth",
    request_body(content = ProviderTokenRequestBody, content_type = "application/json"),
    responses(
        (status = 402, response = r::PlanLimit),
        (status = 200, description = "`ok` or `action_required`", body = ProviderTokenBody),
        (status = 403, response = r::Forbidden),
        (status = 502, response = r::UpstreamError),
        r::Authenticated,
        r::JsonBody,
    )
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
