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
    /// Sealing or opening a signing key in the vault failed.
    #[error("vault: {0}")]
    Vault(#[from] latchkey_server::SystemSecretError),
    #[error("the signing key {0} is not a readable Ed25519 seed for its kid")]
    UnreadableKey(String),
}

impl AgentTokenError {
    /// True when the vault could not be reached: waiting for it may help.
    pub fn is_vault_unavailable(&self) -> bool {
        matches!(self, Self::Vault(error) if error.is_unavailable())
    }

    /// True when loading the signing keys must stop (and keep the keys held) rather than skip the
    /// one key that failed: the database or the vault did not answer.
    pub(crate) fn aborts_key_load(&self) -> bool {
        matches!(self, Self::Storage(_) | Self::Database(_)) || self.is_vault_unavailable()
    }
}

impl From<AgentTokenError> for tonic::Status {
    fn from(error: AgentTokenError) -> Self {
        let api_error = match error {
            AgentTokenError::Invalid(api_error) => api_error,
            AgentTokenError::ApiKeyNotFound => ApiError::not_found("API key"),
            AgentTokenError::AgentNotFound => ApiError::not_found("agent"),
            AgentTokenError::TokenNotFound => ApiError::not_found("token"),
            AgentTokenError::Unauthenticated => ApiError::unauthorized(),
            AgentTokenError::Vault(ref vault) if vault.is_unavailable() => {
                tracing::warn!(error = %error, "agent-token request failed: the vault cannot be reached");
                ApiError::unavailable()
            }
            AgentTokenError::Storage(_)
            | AgentTokenError::Database(_)
            | AgentTokenError::Server(_)
            | AgentTokenError::Vault(_)
            | AgentTokenError::UnreadableKey(_) => {
                tracing::error!(error = %error, "agent-token request failed");
                ApiError::internal()
            }
        };
        api_error.into()
    }
}
