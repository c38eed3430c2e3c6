//! What the console needs from the gateway that mounts it: sessions (kept by agent-token, so every
//! gateway replica honours them) and one way to act, a request to the gateway's own REST routes as
//! the signed-in account. The console has no rules of its own: a page's form is exactly its route
//! (validation, limits, policies, audit, error codes).

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Method, StatusCode};

/// A signed-in person's session, as agent-token resolved it for this request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleSession {
    /// `cses_…`.
    pub session_id: String,
    pub account_id: String,
    /// The API key (`key_…`) or certificate (`cert_…`) that signed in: the actor of what the
    /// session does.
    pub actor_id: String,
    pub plan: String,
    /// When the session ends regardless of use (Unix milliseconds).
    pub expires_at_ms: i64,
}

/// A session just started: its secret goes into the cookie and nowhere else.
pub struct StartedSession {
    pub token: String,
    pub session: ConsoleSession,
}

impl std::fmt::Debug for StartedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartedSession")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// Why the backend could not sign in or resolve a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// The credential or session is not valid (unknown, expired, ended, its key deleted).
    Refused,
    /// The caller went past its rate limit.
    RateLimited,
    /// The mesh could not answer; the message is safe to show.
    Unavailable(String),
}

/// One request to the gateway's REST routes, made in-process as the session's account.
#[derive(Debug, Clone)]
pub struct ApiCall {
    pub method: Method,
    /// Path and query, e.g. `/v1/agents?limit=50`; every segment taken from input is encoded.
    pub path_and_query: String,
    /// A JSON body, sent as `application/json`.
    pub body: Option<serde_json::Value>,
}

/// A route's answer.
#[derive(Debug, Clone)]
pub struct ApiAnswer {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub body: Bytes,
}

/// The gateway's side of the console.
pub trait Backend: Send + Sync + 'static {
    /// Starts a session for an account API key or certificate JWT.
    fn sign_in<'a>(&'a self, credential: &'a str) -> BoxFuture<'a, Result<StartedSession, SessionError>>;

    /// The live session `token` names, refreshing its idle expiry; also spends one request of the
    /// actor's rate limit.
    fn resolve<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<ConsoleSession, SessionError>>;

    /// Ends the session (and, with `everywhere`, every session of its account).
    fn sign_out<'a>(&'a self, token: &'a str, everywhere: bool) -> BoxFuture<'a, Result<(), SessionError>>;

    /// Makes `call` to the REST routes as `session`'s account.
    fn call<'a>(&'a self, session: &'a ConsoleSession, call: ApiCall) -> BoxFuture<'a, ApiAnswer>;
}
