//! `/oauth/redirect-uris`: where `POST /oauth/sessions` may send the end user back to.

use axum::{Json, extract::State};
use latchkey_proto::oauth::v1 as pb;

use super::bodies::RedirectUrisBody;
use crate::{json::ValidJson, openapi::responses as r, principal::Principal, problem::Problem, state::AppState};

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
        r::Authenticated,
        r::JsonBody,
    )
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
        r::Authenticated,
    )
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
