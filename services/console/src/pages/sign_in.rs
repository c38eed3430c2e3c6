//! Signing in (an account API key or certificate JWT becomes a server-side session) and out.

use axum::{
    extract::State,
    response::{Html, IntoResponse, Response},
};
use http::{HeaderMap, StatusCode, header};
use maud::html;

use crate::{
    Console,
    backend::SessionError,
    layout,
    session::{self, CSRF_FIELD, Posted, SESSION_COOKIE, SIGN_IN_COOKIE, SignInPosted},
};

/// The longest credential the form passes on (a certificate JWT; API keys are far shorter).
const MAX_CREDENTIAL_LEN: usize = 8 * 1024;

fn sign_in_page(status: StatusCode, nonce: &str, error: Option<&str>, secure: bool) -> Response {
    let markup = layout::bare(
        "Sign in",
        html! {
            p { "Sign in with one of your account's API keys (" code { "lk_live_…" } ") or a certificate JWT. "
                "The console keeps a session on the server; the key itself is not stored in your browser." }
            @if let Some(error) = error { p.notice.error role="alert" { (error) } }
            form method="post" action="/console/sign-in" {
                input type="hidden" name=(CSRF_FIELD) value=(nonce);
                div.field {
                    label for="credential" { "API key" }
                    input id="credential" name="credential" type="password" autocomplete="off" required autofocus;
                }
                button type="submit" { "Sign in" }
            }
        },
    );
    let mut response = (status, Html(markup.into_string())).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(SIGN_IN_COOKIE, Some(nonce), secure),
    );
    response
}

/// `GET /console/sign-in`.
pub(crate) async fn form(State(console): State<Console>, headers: HeaderMap) -> Response {
    let nonce = session::cookie(&headers, SIGN_IN_COOKIE)
        .map(str::to_owned)
        .unwrap_or_else(session::new_sign_in_nonce);
    sign_in_page(StatusCode::OK, &nonce, None, console.settings.secure_cookies)
}

/// `POST /console/sign-in`.
pub(crate) async fn submit(State(console): State<Console>, posted: SignInPosted) -> Response {
    let secure = console.settings.secure_cookies;
    let credential = posted.fields.get("credential");
    let refuse = |status, message: &str| sign_in_page(status, &session::new_sign_in_nonce(), Some(message), secure);
    if credential.is_empty() || credential.len() > MAX_CREDENTIAL_LEN {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, "Enter an API key.");
    }
    match console.backend.sign_in(credential).await {
        Ok(started) => {
            tracing::info!(session = %started.session.session_id, account = %started.session.account_id, "console sign-in");
            let mut response = layout::see_other("/console");
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                session::set_cookie(SESSION_COOKIE, Some(&started.token), secure),
            );
            headers.append(header::SET_COOKIE, session::set_cookie(SIGN_IN_COOKIE, None, secure));
            response
        }
        Err(SessionError::Refused) => refuse(
            StatusCode::UNAUTHORIZED,
            "That key is not valid: it may be mistyped or deleted.",
        ),
        Err(SessionError::RateLimited) => refuse(StatusCode::TOO_MANY_REQUESTS, "Too many attempts; wait a moment."),
        Err(SessionError::Unavailable(message)) => refuse(StatusCode::SERVICE_UNAVAILABLE, &message),
    }
}

/// `POST /console/sign-out`: ends the session on the server (every gateway forgets it), and with
/// `everywhere` every session of the account.
pub(crate) async fn sign_out(State(console): State<Console>, posted: Posted) -> Response {
    let everywhere = posted.fields.ticked("everywhere");
    if let Err(error) = console.backend.sign_out(posted.signed_in.token(), everywhere).await {
        return layout::failure(
            StatusCode::SERVICE_UNAVAILABLE,
            "Could not sign out",
            &format!("The session could not be ended ({error:?}); try again."),
        );
    }
    let mut response = layout::see_other("/console/sign-in");
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(SESSION_COOKIE, None, console.settings.secure_cookies),
    );
    response
}
