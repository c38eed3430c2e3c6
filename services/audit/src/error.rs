//! The service's one error type, mapped once to a gRPC status.

use latchkey_errors::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Invalid(ApiError),
    #[error("storage: {0}")]
    Storage(#[from] latchkey_storage::StorageError),
    #[error("database: {0}")]
    Database(#[from] latchkey_storage::sqlx::Error),
    #[error("gRPC server: {0}")]
    Server(#[from] latchkey_server::ServerError),
    #[error("an appender kept losing the race for the chain head")]
    Contended,
    #[error("no checkpoint signing key could be loaded")]
    NoSigningKey,
}

impl From<AuditError> for tonic::Status {
    fn from(error: AuditError) -> Self {
        let api_error = match error {
            AuditError::Invalid(api_error) => api_error,
            AuditError::Storage(_)
            | AuditError::Database(_)
            | AuditError::Server(_)
            | AuditError::Contended
            | AuditError::NoSigningKey => {
                tracing::error!(error = %error, "audit request failed");
                ApiError::internal()
            }
        };
        api_error.into()
    }
}
