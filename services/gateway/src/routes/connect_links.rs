//! `POST /v1/connect-links`: a short-lived, single-use URL that starts an authorization in a browser
//! holding no API key (AGNT's `GET /auth/google`, seed 003). Minted with the account's key; the URL
//! is `{server.public_url}/auth/{provider}?link=<token>`, whose token the oauth service keeps only
//! hashed. Opening it (auth_flow.rs) makes the session the link was minted for, in its account.
//! Whoever can mint for an account (an API key today, a console session later: the oauth service
//! takes the account from the mesh call, not from a key) goes through this one RPC.

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use latchkey_proto::oauth::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{constraints::OauthProviderCode, oauth::iso_ms};
use crate::{json::ValidJson, openapi::responses as r, principal::Principal, problem::Problem, state::AppState};

/// How the authorization a link starts comes back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LinkFlow {
    /// AGNT's flow (the default, as `GET /auth/{provider}`): the provider sends the end user to
    /// `redirectUri` with `code` and `state`, which the client's backend posts to `/auth/exchange`.
    #[default]
    Exchange,
    /// Latchkey finishes it: the provider returns to Latchkey's callback, which stores the
    /// connection and sends the end user to `redirectUri` with the outcome (or, without one,
    /// answers it).
    Callback,
}

/// What the link starts.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateConnectLinkBody {
    /// An enabled OAuth provider, e.g. `google`, `microsoft`.
    #[schema(value_type = OauthProviderCode, example = "google")]
    pub provider: String,
    /// The end user the connection is for (as `/oauth-tokens` lists it), up to 256 bytes; none:
    /// the account.
    #[schema(max_length = 256)]
    pub identifier_id: Option<String>,
    /// Exchange flow: the client's callback the provider sends the end user to (left out: the
    /// account's only allowed redirect URI). Callback flow: where the end user lands afterwards
    /// (left out: Latchkey's own answer). Once the account keeps a list (`PUT /oauth/redirect-uris`),
    /// one of those exactly; without one, an `https` URI or `http` on a loopback host.
    #[schema(
        format = "uri",
        max_length = 2048,
        pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]+([/?][^\s#]*)?$"
    )]
    pub redirect_uri: Option<String>,
    /// Up to 50 scopes, each printable ASCII without spaces, `"` or `\`, at most 256 characters;
    /// the provider's defaults when left out or empty.
    #[schema(max_items = 50, min_length = 1, max_length = 256, pattern = r"^[!#-\[\]-~]+$")]
    pub scopes: Option<Vec<String>>,
    /// `exchange` (default) or `callback`.
    #[schema(inline)]
    pub flow: Option<LinkFlow>,
}

/// A minted link. `url` is shown once: Latchkey keeps only a hash of its token.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectLinkBody {
    #[schema(example = "clink_0123456789abcdef")]
    pub id: String,
    /// Open it in the end user's browser (no API key): `{public_url}/auth/{provider}?link=…`.
    /// Works once, until `expires_at`.
    pub url: String,
    pub provider: String,
    pub identifier_id: Option<String>,
    /// The redirect URI the session will have (for the exchange flow, resolved now).
    pub redirect_uri: Option<String>,
    /// The scopes asked for; empty: the provider's defaults.
    pub scopes: Vec<String>,
    #[schema(inline)]
    pub flow: LinkFlow,
    /// RFC 3339; opening the link after it answers `SESSION_EXPIRED`.
    pub expires_at: Option<String>,
    pub created_at: Option<String>,
}

/// The oauth service's limit on an end user id.
const MAX_IDENTIFIER_LEN: usize = 256;

/// Create a connect link
///
/// A short-lived (10 minutes by default), single-use URL that starts the authorization described
/// here when the end user opens it in a browser, with no API key: `GET /auth/{provider}?link=…`.
/// It acts only in this account. Everything a session would refuse (an unknown or non-OAuth
/// provider, one without an OAuth app, a redirect URI the account does not allow, bad scopes) is
/// refused now, naming the field; so is a link for a connection the plan has no room for (402
/// `PLAN_LIMIT`, checked when the link is minted, as when a session starts).
#[utoipa::path(
    post,
    path = "/v1/connect-links",
    tag = "oauth",
    request_body(content = CreateConnectLinkBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The link (shown once)", body = ConnectLinkBody),
        (status = 402, response = r::PlanLimit),
        (status = 502, response = r::UpstreamError),
        r::Authenticated,
        r::JsonBody,
    )
)]
pub(crate) async fn create_connect_link(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<CreateConnectLinkBody>,
) -> Result<Response, Problem> {
    super::oauth::required("provider", &body.provider)?;
    let identifier_id = body.identifier_id.unwrap_or_default();
    if identifier_id.len() > MAX_IDENTIFIER_LEN {
        return Err(Problem(latchkey_errors::ApiError::validation(vec![
            latchkey_errors::FieldError::new("identifierId", format!("at most {MAX_IDENTIFIER_LEN} characters")),
        ])));
    }
    let flow = match body.flow.unwrap_or_default() {
        LinkFlow::Exchange => pb::SessionFlow::Exchange,
        LinkFlow::Callback => pb::SessionFlow::Callback,
    };
    let request = principal.grpc_request(pb::CreateConnectLinkRequest {
        provider: body.provider,
        end_user_id: identifier_id,
        redirect_uri: body.redirect_uri.unwrap_or_default(),
        scopes: body.scopes.unwrap_or_default(),
        flow: flow.into(),
    });
    let link = state.oauth.clone().create_connect_link(request).await?.into_inner();
    let url = format!("{}/auth/{}?link={}", state.public_url, link.provider, link.token);
    let flow = if link.flow == "callback" {
        LinkFlow::Callback
    } else {
        LinkFlow::Exchange
    };
    let body = ConnectLinkBody {
        id: link.id,
        url,
        identifier_id: Some(link.end_user_id).filter(|id| !id.is_empty()),
        redirect_uri: Some(link.redirect_uri).filter(|uri| !uri.is_empty()),
        provider: link.provider,
        scopes: link.scopes,
        flow,
        expires_at: iso_ms(link.expires_at_ms),
        created_at: iso_ms(link.created_at_ms),
    };
    // The URL is a credential until it is used: no cache keeps it.
    Ok((StatusCode::CREATED, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}
