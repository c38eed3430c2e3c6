//! The service's one error type, mapped once to a gRPC status. The failures every service shares
//! are the kit's [`InfraError`]; storage failures are logged and reach the caller only as a generic
//! internal error.

use latchkey_errors::ApiError;
use latchkey_server::InfraError;

#[derive(Debug, thiserror::Error)]
pub enum AgentTokenError {
    #[error(transparent)]
    Invalid(ApiError),
    #[error("API key not found")]
    ApiKeyNotFound,
    #[error("account not found")]
    AccountNotFound,
    #[error("agent not found")]
    AgentNotFound,
    #[error("token not found")]
    TokenNotFound,
    #[error("domain not found")]
    DomainNotFound,
    #[error("missing or invalid credentials")]
    Unauthenticated,
    /// Storage, the database, the bus, the server, a peer that did not answer, a caller asking
    /// too often, or what must not happen (the kit's one mapping to gRPC).
    #[error(transparent)]
    Infra(InfraError),
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
        matches!(self, Self::Infra(infra) if infra.is_storage()) || self.is_vault_unavailable()
    }
}

latchkey_server::wraps_infra_error!(AgentTokenError);

impl From<AgentTokenError> for tonic::Status {
    fn from(error: AgentTokenError) -> Self {
        let api_error = match error {
            AgentTokenError::Invalid(api_error) => api_error,
            AgentTokenError::ApiKeyNotFound => ApiError::not_found("API key"),
            AgentTokenError::AccountNotFound => ApiError::not_found("account"),
            AgentTokenError::AgentNotFound => ApiError::not_found("agent"),
            AgentTokenError::TokenNotFound => ApiError::not_found("token"),
            AgentTokenError::DomainNotFound => ApiError::not_found("domain"),
            AgentTokenError::Unauthenticated => ApiError::unauthorized(),
            AgentTokenError::Vault(ref vault) if vault.is_unavailable() => {
                tracing::warn!(error = %error, "agent-token request failed: the vault cannot be reached");
                ApiError::unavailable()
            }
            AgentTokenError::Infra(ref infra) => infra.to_api_error("agent-token"),
            AgentTokenError::Vault(_) | AgentTokenError::UnreadableKey(_) => {
                tracing::error!(error = %error, "agent-token request failed");
                ApiError::internal()
            }
        };
        api_error.into()
    }
}
