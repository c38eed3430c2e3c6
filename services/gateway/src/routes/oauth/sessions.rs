//! `POST /oauth/sessions` and the callback providers send the end user back to.

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use latchkey_errors::{ApiError, ErrorCode, FieldError};
use latchkey_proto::oauth::v1 as pb;

use super::{
    bodies::{CallbackBody, CallbackParams, CreateSessionBody, SessionBody, SessionCreatedBody},
    iso_ms, required,
};
use crate::{
    json::ValidJson, openapi::responses as r, principal::Principal, problem::Problem, query::ValidQuery,
    state::AppState,
};

/// Create an OAuth session
///
/// Answers the provider URL the end user must visit (`url`, also inside `data`); single-use state,
/// PKCE S256. The redirect URI, if any, is bound to the session: the callback sends the end user
/// there and nowhere else.
#[utoipa::path(
    post,
    path = "/oauth/sessions",
    tag = "oauth",
    request_body(content = CreateSessionBody, content_type = "application/json"),
    responses(
        (status = 402, response = r::PlanLimit),
        (status = 201, description = "The session", body = SessionCreatedBody),
        (status = 502, response = r::UpstreamError),
        r::Authenticated,
        r::JsonBody,
    )
)]
pub(crate) async fn create_session(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<CreateSessionBody>,
) -> Result<(StatusCode, Json<SessionCreatedBody>), Problem> {
    required("provider", &body.provider)?;
    let request = principal.grpc_request(pb::CreateSessionRequest {
        provider: body.provider,
        redirect_uri: body.redirect_uri.unwrap_or_default(),
        scopes: body.scopes.unwrap_or_default(),
        end_user_id: body.end_user_id.unwrap_or_default(),
        flow: pb::SessionFlow::Callback.into(),
    });
    let session = state.oauth.clone().create_session(request).await?.into_inner();
    let data = SessionBody {
        url: session.url,
        session_id: session.session_id,
        expires_at: iso_ms(session.expires_at_ms),
    };
    Ok((
        StatusCode::CREATED,
        Json(SessionCreatedBody {
            status: "success",
            url: data.url.clone(),
            session_id: data.session_id.clone(),
            expires_at: data.expires_at.clone(),
            data,
        }),
    ))
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
        r::ServiceCall,
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
