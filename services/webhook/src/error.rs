//! The service's one error type, mapped once to a gRPC status. Storage failures and anything else
//! internal are logged here and reach the caller only as a generic error.

use latchkey_errors::{ApiError, ErrorCode, FieldError};
use latchkey_server::InfraError;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The request is wrong; the error names the fields at fault.
    #[error(transparent)]
    Invalid(ApiError),
    #[error("webhook endpoint not found")]
    EndpointNotFound,
    #[error("webhook message not found")]
    MessageNotFound,
    /// The request is well formed but the endpoint's state refuses it (e.g. it is disabled).
    #[error("{0}")]
    Unprocessable(String),
    /// Storage, the database, the bus, the server, a peer that did not answer, a caller asking
    /// too often, or what must not happen (the kit's one mapping to gRPC).
    #[error(transparent)]
    Infra(InfraError),
    #[error("HTTP client: {0}")]
    Client(String),
    /// The vault could not seal or open an endpoint's secrets (the message never holds a secret).
    #[error("vault: {0}")]
    Vault(String),
}

impl WebhookError {
    /// A `VALIDATION_ERROR` naming one field.
    pub(crate) fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(ApiError::validation(vec![FieldError::new(field, message)]))
    }
}

latchkey_server::wraps_infra_error!(WebhookError);

impl From<WebhookError> for tonic::Status {
    fn from(error: WebhookError) -> Self {
        let api_error = match error {
            WebhookError::Invalid(api_error) => api_error,
            WebhookError::EndpointNotFound => ApiError::not_found("webhook endpoint"),
            WebhookError::MessageNotFound => ApiError::not_found("webhook message"),
            WebhookError::Unprocessable(message) => ApiError::new(ErrorCode::Unprocessable, message),
            WebhookError::Infra(ref infra) => infra.to_api_error("webhook"),
            WebhookError::Client(_) | WebhookError::Vault(_) => {
                tracing::error!(error = %error, "webhook request failed");
                ApiError::internal()
            }
        };
        api_error.into()
    }
}
