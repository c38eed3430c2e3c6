//! The service's one error type, mapped once to a gRPC status. Storage failures are logged here
//! and reach the caller only as a generic internal error.

use latchkey_errors::ApiError;
use latchkey_storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum AgentTokenError {
    #[error(transparent)]
    Invalid(ApiError),
    #[error("API key not found")]
    ApiKeyNotFound,
    #[error("agent not found")]
    AgentNotFound,
    #[error("token not found")]
    TokenNotFound,
    #[error("missing or invalid credentials")]
    Unauthenticated,
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("database: {0}")]
    Database(#[from] latchkey_storage::sqlx::Error),
    #[error("gRPC server: {0}")]
    Server(#[from] latchkey_server::ServerError),
}

impl From<AgentTokenError> for tonic::Status {
    fn from(error: AgentTokenError) -> Self {
        let api_error = match error {
            AgentTokenError::Invalid(api_error) => api_error,
            AgentTokenError::ApiKeyNotFound => ApiError::not_found("API key"),
            AgentTokenError::AgentNotFound => ApiError::not_found("agent"),
            AgentTokenError::TokenNotFound => ApiError::not_found("token"),
            AgentTokenError::Unauthenticated => ApiError::unauthorized(),
            AgentTokenError::Storage(_) | AgentTokenError::Database(_) | AgentTokenError::Server(_) => {
                tracing::error!(error = %error, "agent-token request failed");
                ApiError::internal()
            }
        };
        api_error.into()
    }
}
