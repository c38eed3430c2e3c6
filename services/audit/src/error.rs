//! The service's one error type, mapped once to a gRPC status.

use latchkey_errors::ApiError;
use latchkey_server::InfraError;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Invalid(ApiError),
    /// Storage, the database, the bus, the server, a peer that did not answer, a caller asking
    /// too often, or what must not happen (the kit's one mapping to gRPC).
    #[error(transparent)]
    Infra(InfraError),
    #[error("an appender kept losing the race for the chain head")]
    Contended,
    /// Another replica took over consuming the stream: this one must append nothing more.
    #[error("another replica consumes the event stream now")]
    LeaseLost,
    #[error("no checkpoint signing key could be loaded")]
    NoSigningKey,
    /// The checkpoint keys are sealed in the vault, and none is configured.
    #[error("no vault to open the checkpoint keys with")]
    NoVault,
    /// Sealing or opening a checkpoint key in the vault failed.
    #[error("vault: {0}")]
    Vault(#[from] latchkey_server::SystemSecretError),
    #[error("the checkpoint key {0} is not a readable Ed25519 seed for its kid")]
    UnreadableKey(String),
}

impl AuditError {
    /// True when the vault could not be reached: waiting for it may help.
    pub fn is_vault_unavailable(&self) -> bool {
        matches!(self, Self::Vault(error) if error.is_unavailable())
    }

    /// True when opening the checkpoint keys must stop rather than skip the one key that failed:
    /// the database or the vault did not answer.
    pub(crate) fn aborts_key_load(&self) -> bool {
        matches!(self, Self::Infra(infra) if infra.is_storage()) || self.is_vault_unavailable()
    }
}

latchkey_server::wraps_infra_error!(AuditError);

impl From<AuditError> for tonic::Status {
    fn from(error: AuditError) -> Self {
        let api_error = match error {
            AuditError::Invalid(api_error) => api_error,
            AuditError::Infra(ref infra) => infra.to_api_error("audit"),
            AuditError::Contended
            | AuditError::LeaseLost
            | AuditError::NoSigningKey
            | AuditError::NoVault
            | AuditError::Vault(_)
            | AuditError::UnreadableKey(_) => {
                tracing::error!(error = %error, "audit request failed");
                ApiError::internal()
            }
        };
        api_error.into()
    }
}
