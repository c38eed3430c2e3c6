//! AGNT Connect's OAuth flow (seed 003): `GET /auth/{provider}` redirects to the provider, which
//! sends the end user back to the client's OWN redirect URI with `code` and `state`; the client's
//! backend then posts the code to `POST /auth/exchange`, which stores the connection. Backed by the
//! oauth service's exchange-flow sessions (single-use state, PKCE S256, 10 minutes), the same
//! connections `/tokens/fetch` and `/oauth-tokens` read. A browser cannot send the API key: a
//! backend calls `GET /auth/{provider}` with its key and forwards the `Location` (or the `url`), or
//! mints a connect link (`POST /v1/connect-links`, connect_links.rs) that the browser opens as
//! `GET /auth/{provider}?link=…` with no key at all.

use axum::{
    Json,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use latchkey_errors::{ApiError, ErrorCode, FieldError};
use latchkey_proto::oauth::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{constraints::OauthProviderCode, oauth::iso_ms};
use crate::{
    json::ValidJson, openapi::responses as r, principal::Principal, problem::Problem, query::ValidQuery,
    state::AppState,
};

/// Where the provider sends the end user back, and for whom.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthorizeParams {
    /// The client's own callback: the provider sends the end user there with `code` and `state`.
    /// One of the account's allowed redirect URIs (`PUT /oauth/redirect-uris`), exactly; may be
    /// left out when the account has exactly one.
    #[param(
        format = "uri",
        max_length = 2048,
        pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]+([/?][^\s#]*)?$"
    )]
    pub redirect_uri: Option<String>,
    /// The end user the connection is for (as `/oauth-tokens` lists it), up to 256 bytes; none: the
    /// account.
    #[param(max_length = 256)]
    pub identifier_id: Option<String>,
    /// Up to 50 scopes to ask for, comma or space separated, each printable ASCII (at most 256
    /// characters, no `"` or `\`); the provider's defaults when left out.
    #[param(pattern = r"^[!#-\[\]-~\s]*$")]
    pub scopes: Option<String>,
    /// A connect link's token (`POST /v1/connect-links` hands out the whole URL): starts the
    /// authorization the link was minted for, in its account, with no API key. Single-use; the
    /// link fixes every other parameter, so none may be given with it.
    #[param(min_length = 43, max_length = 43, pattern = r"^[A-Za-z0-9_-]{43}$")]
    pub link: Option<String>,
}

/// Where to send the end user (also the `Location` of the 302).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizeBody {
    /// The provider's authorization URL (state, PKCE S256 challenge, the client's redirect URI).
    pub url: String,
    pub session_id: String,
    /// The authorization must be exchanged within 10 minutes (`SESSION_EXPIRED` after).
    pub expires_at: Option<String>,
}

/// The oauth service's limit on an end user id.
const MAX_IDENTIFIER_LEN: usize = 256;

fn scopes_of(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|scope| !scope.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Initiate OAuth (Google, Microsoft, any enabled OAuth provider)
///
/// Redirects (302) to the provider's authorization page; the provider then sends the end user to
/// `redirectUri` with `code` and `state`, which the client's backend posts to `POST /auth/exchange`.
/// Answers the same URL as JSON for clients that do not follow redirects. Called with an API key,
/// or from a browser with none through a connect link (`?link=`, from `POST /v1/connect-links`):
/// the link's authorization, once; a used, expired or unknown link is `SESSION_EXPIRED`.
#[utoipa::path(
    get,
    path = "/auth/{provider}",
    tag = "oauth",
    params(("provider" = OauthProviderCode, Path, description = "`google`, `microsoft`, or any enabled OAuth provider"), AuthorizeParams),
    responses(
        (status = 402, response = r::PlanLimit),
        (status = 302, description = "To the provider's authorization page", body = AuthorizeBody,
            headers(("Location" = String, description = "The provider's authorization URL"))),
        (status = 400, response = r::BadRequest),
        (status = 502, response = r::UpstreamError),
        r::Authenticated,
    )
)]
pub(crate) async fn authorize(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    ValidQuery(params): ValidQuery<AuthorizeParams>,
    principal: Result<Principal, Problem>,
) -> Result<Response, Problem> {
    if let Some(link) = params.link.clone() {
        return open_link(&state, provider, link, &params).await;
    }
    let principal = principal.map_err(|Problem(mut error)| {
        if error.code == ErrorCode::Unauthorized {
            error.message = format!(
                "{} (a browser without one opens a connect link: POST /v1/connect-links)",
                error.message
            );
        }
        Problem(error)
    })?;
    // The oauth service knows it as the end user id; name it as this route's caller does.
    if params
        .identifier_id
        .as_ref()
        .is_some_and(|id| id.len() > MAX_IDENTIFIER_LEN)
    {
        return Err(Problem(ApiError::validation(vec![FieldError::new(
            "identifierId",
            format!("at most {MAX_IDENTIFIER_LEN} characters"),
        )])));
    }
    let request = principal.grpc_request(pb::CreateSessionRequest {
        provider,
        redirect_uri: params.redirect_uri.unwrap_or_default(),
        scopes: params.scopes.as_deref().map(scopes_of).unwrap_or_default(),
        end_user_id: params.identifier_id.unwrap_or_default(),
        flow: pb::SessionFlow::Exchange.into(),
    });
    let session = state.oauth.clone().create_session(request).await?.into_inner();
    Ok(redirect_to(session))
}

/// A connect link opened (by a browser, most likely): the session it was minted for, in the account
/// that minted it. The link fixes everything else: a parameter beside it is refused, never mixed in.
async fn open_link(
    state: &AppState,
    provider: String,
    link: String,
    params: &AuthorizeParams,
) -> Result<Response, Problem> {
    let beside = [
        ("redirectUri", params.redirect_uri.is_some()),
        ("identifierId", params.identifier_id.is_some()),
        ("scopes", params.scopes.is_some()),
    ];
    let errors: Vec<FieldError> = beside
        .into_iter()
        .filter(|(_, given)| *given)
        .map(|(field, _)| FieldError::new(field, "not with `link`: the connect link fixes it"))
        .collect();
    if !errors.is_empty() {
        return Err(Problem(ApiError::validation(errors)));
    }
    let request = tonic::Request::new(pb::OpenConnectLinkRequest { provider, token: link });
    let session = state.oauth.clone().open_connect_link(request).await?.into_inner();
    Ok(redirect_to(session))
}

/// 302 to the session's authorization URL, which the JSON body repeats.
fn redirect_to(session: pb::CreateSessionResponse) -> Response {
    let body = AuthorizeBody {
        url: session.url.clone(),
        session_id: session.session_id,
        expires_at: iso_ms(session.expires_at_ms),
    };
    (StatusCode::FOUND, [(header::LOCATION, session.url)], Json(body)).into_response()
}

/// A code the provider sent to the client's redirect URI.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExchangeBody {
    /// The authorization code from the provider's redirect, up to 4096 bytes.
    #[schema(min_length = 1, max_length = 4096, pattern = r"\S")]
    pub code: String,
    #[schema(value_type = OauthProviderCode, example = "google")]
    pub provider: String,
    /// The redirect URI of the authorization request (`GET /auth/{provider}`'s), exactly.
    #[schema(
        format = "uri",
        max_length = 2048,
        pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]+([/?][^\s#]*)?$"
    )]
    pub redirect_uri: String,
    /// The `state` from the provider's redirect. Recommended: it names the session exactly. Without
    /// it, the account's only pending session for this provider and redirect URI is used; with
    /// several pending, `VALIDATION_ERROR` naming `state` (nothing is exchanged).
    pub state: Option<String>,
}

/// The stored connection.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExchangedBody {
    /// Always true (failures are problem documents).
    pub success: bool,
    pub provider: String,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// When the access token expires (Latchkey refreshes it); `null` if it does not.
    pub expires_at: Option<String>,
    pub connection_id: String,
}

/// Exchange an OAuth code for tokens
///
/// Exchanges the code with the session's PKCE verifier, stores the tokens (refreshed automatically
/// from then on) and emits `connection.created`. The session is single-use, consumed even when the
/// provider refuses the code. No matching session (or an expired one): `SESSION_EXPIRED`; the
/// provider refuses the code: `VALIDATION_ERROR` naming `code`; no `state` while several sessions
/// of the provider and redirect URI are pending: `VALIDATION_ERROR` naming `state`.
#[utoipa::path(
    post,
    path = "/auth/exchange",
    tag = "oauth",
    request_body(content = ExchangeBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Connected", body = ExchangedBody),
        (status = 502, response = r::UpstreamError),
        r::Authenticated,
        r::JsonBody,
    )
)]
pub(crate) async fn exchange(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<ExchangeBody>,
) -> Result<Json<ExchangedBody>, Problem> {
    let request = principal.grpc_request(pb::ExchangeCodeRequest {
        code: body.code,
        provider: body.provider,
        redirect_uri: body.redirect_uri,
        state: body.state.unwrap_or_default(),
    });
    let exchanged = state.oauth.clone().exchange_code(request).await?.into_inner();
    Ok(Json(ExchangedBody {
        success: true,
        provider: exchanged.provider,
        scopes: exchanged.scopes,
        expires_at: iso_ms(exchanged.expires_at_ms),
        connection_id: exchanged.connection_id,
    }))
}

#[cfg(test)]
mod tests;
