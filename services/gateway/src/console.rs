//! `/console`: the console (`latchkey-console`) on the gateway. This module is its [`Backend`]:
//! sessions are agent-token's (`StartConsoleSession`, `ResolveConsoleSession`,
//! `EndConsoleSession`: stored in its database, so every gateway replica honours a sign-in and a
//! sign-out at once), and every page acts through the gateway's own REST routes, in this process,
//! as the signed-in account (the same edge, checks, policies, audit and errors as an API client).

use std::sync::Arc;

use axum::{Router, body::Body};
use futures::{FutureExt, future::BoxFuture};
use http::{HeaderValue, header};
use latchkey_console::{ApiAnswer, ApiCall, Backend, ConsoleSession, ConsoleSettings, SessionError, StartedSession};
use latchkey_ids::AccountId;
use latchkey_proto::agent_token::v1::{
    self as pb, EndConsoleSessionRequest, ResolveConsoleSessionRequest, StartConsoleSessionRequest,
};
use tower::ServiceExt;

use crate::{auth::refused, principal::Principal, state::AppState};

/// The most of a route's answer a page reads (the audit export is the largest).
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

struct GatewayConsole {
    /// The REST routes behind the edge middleware.
    rest: Router,
    state: AppState,
}

fn unavailable(status: &tonic::Status) -> SessionError {
    tracing::warn!(code = ?status.code(), message = status.message(), "a console session call failed");
    SessionError::Unavailable("Latchkey could not reach its sessions; try again in a moment.".to_owned())
}

fn session_of(session: Option<pb::ConsoleSession>) -> Result<ConsoleSession, SessionError> {
    let session =
        session.ok_or_else(|| SessionError::Unavailable("agent-token answered without a session".to_owned()))?;
    Ok(ConsoleSession {
        session_id: session.session_id,
        account_id: session.account_id,
        actor_id: session.actor_id,
        plan: session.plan,
        expires_at_ms: session.expires_at_ms,
    })
}

impl GatewayConsole {
    async fn call(&self, session: &ConsoleSession, call: ApiCall) -> ApiAnswer {
        let principal = match AccountId::try_from(session.account_id.clone()) {
            Ok(account_id) => Principal {
                account_id,
                api_key_id: session.actor_id.as_str().into(),
                plan: session.plan.as_str().into(),
            },
            Err(_) => return internal_answer("the session names no account"),
        };
        let body = match &call.body {
            Some(body) => Body::from(serde_json::to_vec(body).unwrap_or_default()),
            None => Body::empty(),
        };
        let mut request = match http::Request::builder()
            .method(call.method)
            .uri(&call.path_and_query)
            .body(body)
        {
            Ok(request) => request,
            Err(_) => return internal_answer("the console built a request the router cannot take"),
        };
        if call.body.is_some() {
            request
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        // The route takes the caller from here, as it does from an authenticated header.
        request.extensions_mut().insert(principal);
        let response = self
            .rest
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|never| match never {});
        let (parts, body) = response.into_parts();
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        match axum::body::to_bytes(body, MAX_ANSWER_BYTES).await {
            Ok(body) => ApiAnswer {
                status: parts.status,
                content_type,
                body,
            },
            Err(_) => internal_answer("the answer was too large for the console"),
        }
    }
}

fn internal_answer(detail: &str) -> ApiAnswer {
    ApiAnswer {
        status: http::StatusCode::BAD_GATEWAY,
        content_type: Some(crate::PROBLEM_CONTENT_TYPE.to_owned()),
        body: serde_json::to_vec(&serde_json::json!({"status": 502, "code": "UPSTREAM_ERROR", "detail": detail}))
            .unwrap_or_default()
            .into(),
    }
}

impl Backend for GatewayConsole {
    fn sign_in<'a>(&'a self, credential: &'a str) -> BoxFuture<'a, Result<StartedSession, SessionError>> {
        async move {
            let request = tonic::Request::new(StartConsoleSessionRequest {
                credential: credential.to_owned(),
            });
            match self.state.agent_token.clone().start_console_session(request).await {
                Ok(started) => {
                    let started = started.into_inner();
                    Ok(StartedSession {
                        session: session_of(started.session)?,
                        token: started.token,
                    })
                }
                Err(status) if refused(&status) => Err(SessionError::Refused),
                Err(status) => Err(unavailable(&status)),
            }
        }
        .boxed()
    }

    fn resolve<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<ConsoleSession, SessionError>> {
        async move {
            let request = tonic::Request::new(ResolveConsoleSessionRequest {
                token: token.to_owned(),
            });
            let session = match self.state.agent_token.clone().resolve_console_session(request).await {
                Ok(session) => session_of(Some(session.into_inner()))?,
                Err(status) if refused(&status) => return Err(SessionError::Refused),
                Err(status) => return Err(unavailable(&status)),
            };
            // A console request spends the signed-in key's rate limit, as an API request does.
            if self
                .state
                .rate_limiter
                .check(&Arc::from(session.actor_id.as_str()))
                .is_err()
            {
                return Err(SessionError::RateLimited);
            }
            tracing::Span::current().record("account_id", session.account_id.as_str());
            Ok(session)
        }
        .boxed()
    }

    fn sign_out<'a>(&'a self, token: &'a str, everywhere: bool) -> BoxFuture<'a, Result<(), SessionError>> {
        async move {
            let request = tonic::Request::new(EndConsoleSessionRequest {
                token: token.to_owned(),
                everywhere,
            });
            match self.state.agent_token.clone().end_console_session(request).await {
                Ok(_) => Ok(()),
                Err(status) => Err(unavailable(&status)),
            }
        }
        .boxed()
    }

    fn call<'a>(&'a self, session: &'a ConsoleSession, call: ApiCall) -> BoxFuture<'a, ApiAnswer> {
        GatewayConsole::call(self, session, call).boxed()
    }
}

/// Mounts the console (`/`, `/console` and below) beside `router`; its pages act through `rest`.
pub(crate) fn mount(router: Router, rest: Router, state: &AppState) -> Router {
    let settings = ConsoleSettings {
        secure_cookies: state.public_url.starts_with("https://"),
        public_url: state.public_url.to_string(),
    };
    let backend = Arc::new(GatewayConsole {
        rest,
        state: state.clone(),
    });
    router.merge(latchkey_console::router(backend, settings))
}
