//! The service's one error type, mapped once to a gRPC status. Storage failures and anything else
//! internal are logged here and reach the caller only as a generic error. No variant carries a
//! token or a client secret.

use latchkey_errors::{ApiError, ErrorCode, FieldError};
use latchkey_server::InfraError;

#[derive(Debug, thiserror::Error)]
pub enum OauthError {
    /// The request is wrong; the error names the fields at fault.
    #[error(transparent)]
    Invalid(ApiError),
    #[error("the authorization session expired")]
    SessionExpired,
    /// No usable authorization session matches a code exchange (unknown, used, or another's).
    #[error("no authorization session matches")]
    NoSession,
    /// No connect link has this token (never minted, or long gone).
    #[error("unknown connect link")]
    LinkUnknown,
    /// The connect link was opened before: each opens one authorization.
    #[error("the connect link was already used")]
    LinkUsed,
    #[error("the connect link expired")]
    LinkExpired,
    /// The account registered no OAuth app of its own for this provider.
    #[error("no own OAuth app for {0}")]
    AppNotFound(String),
    #[error("{0} is not connected")]
    IntegrationNotFound(String),
    /// The token expired and cannot be refreshed (none, or the provider refused it).
    #[error("the {0} token expired and must be re-authorized")]
    TokenExpired(String),
    /// The provider could not be reached or answered nonsense.
    #[error("provider {provider}: {reason}")]
    Upstream { provider: String, reason: String },
    /// Someone else is refreshing and did not finish in time.
    #[error("the refresh of connection {0} did not finish in time")]
    RefreshTimedOut(String),
    /// The vault refused or failed a call.
    #[error("vault: {0}")]
    Vault(tonic::Status),
    /// A stored value no longer reads back.
    #[error("stored {what} is unreadable: {reason}")]
    Corrupt { what: String, reason: String },
    /// The deployment's catalogue file (`oauth.catalogue_file`) cannot be used: the service does
    /// not start.
    #[error("oauth.catalogue_file: {0}")]
    Catalogue(String),
    /// Storage, the database, the bus, the server, a peer that did not answer, a caller asking
    /// too often, or what must not happen (the kit's one mapping to gRPC).
    #[error(transparent)]
    Infra(InfraError),
}

impl OauthError {
    /// A `VALIDATION_ERROR` naming one field (by its REST name).
    pub(crate) fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(ApiError::validation(vec![FieldError::new(field, message)]))
    }
}

latchkey_server::wraps_infra_error!(OauthError);

impl From<OauthError> for tonic::Status {
    fn from(error: OauthError) -> Self {
        let api_error = match error {
            OauthError::Invalid(api_error) => api_error,
            OauthError::SessionExpired => ApiError::new(
                ErrorCode::SessionExpired,
                "the OAuth session expired (sessions last 10 minutes); start a new one",
            ),
            OauthError::NoSession => ApiError::new(
                ErrorCode::SessionExpired,
                "no unused authorization session matches this provider, redirect URI and state; start a new \
                 one (GET /auth/{provider})",
            ),
            OauthError::LinkUnknown => ApiError::new(
                ErrorCode::SessionExpired,
                "this connect link is unknown or expired long ago; ask for a new one (POST /v1/connect-links)",
            ),
            OauthError::LinkUsed => ApiError::new(
                ErrorCode::SessionExpired,
                "this connect link was already used: each link starts one authorization; ask for a new one \
                 (POST /v1/connect-links)",
            ),
            OauthError::LinkExpired => ApiError::new(
                ErrorCode::SessionExpired,
                "this connect link expired before it was opened; ask for a new one (POST /v1/connect-links)",
            ),
            OauthError::AppNotFound(ref provider) => ApiError::new(
                ErrorCode::NotFound,
                format!("the account has no OAuth app of its own for {provider}"),
            ),
            OauthError::IntegrationNotFound(ref provider) => ApiError::new(
                ErrorCode::IntegrationNotFound,
                format!("{provider} is not connected; create an OAuth session (POST /oauth/sessions) first"),
            ),
            OauthError::TokenExpired(ref provider) => ApiError::new(
                ErrorCode::TokenExpired,
                format!("the {provider} token expired and cannot be refreshed; the user must authorize again"),
            ),
            OauthError::Upstream { ref provider, .. } => {
                tracing::warn!(error = %error, "provider call failed");
                ApiError::new(
                    ErrorCode::UpstreamError,
                    format!("{provider} did not answer as expected; retry later"),
                )
            }
            OauthError::RefreshTimedOut(_) => {
                tracing::warn!(error = %error, "refresh wait timed out");
                ApiError::unavailable()
            }
            OauthError::Vault(ref status) => match ApiError::from_status(status) {
                passed if matches!(passed.code, ErrorCode::Forbidden | ErrorCode::Unavailable) => passed,
                _ => {
                    tracing::error!(error = %error, "oauth request failed");
                    ApiError::internal()
                }
            },
            OauthError::Infra(ref infra) => infra.to_api_error("oauth"),
            OauthError::Corrupt { .. } | OauthError::Catalogue(_) => {
                tracing::error!(error = %error, "oauth request failed");
                ApiError::internal()
            }
        };
        api_error.into()
    }
}
