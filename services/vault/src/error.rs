//! The service's one error type, mapped once to a gRPC status. No variant carries plaintext or key
//! material; storage failures and anything else internal are logged here and reach the caller only
//! as a generic error.

use latchkey_errors::{ApiError, ErrorCode, FieldError};
use latchkey_server::InfraError;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The request is wrong; the error names the fields at fault.
    #[error(transparent)]
    Invalid(ApiError),
    #[error("secret not found")]
    NotFound,
    /// The secret is write-only and the caller did not state an internal use.
    #[error("secret is write-only")]
    WriteOnly,
    /// A compare-and-swap lost: the current version is not the one the caller expected.
    #[error("secret is at version {current}, not the expected {expected}")]
    VersionConflict { expected: u64, current: u64 },
    /// Concurrent writers of the same secrets kept winning over this write.
    #[error("concurrent writes kept colliding")]
    Contended,
    /// The root keys are missing, unreadable or malformed (configuration).
    #[error("root keys: {0}")]
    RootKeys(String),
    /// A data key is wrapped under a root key version this vault does not hold.
    #[error("account {account_id}'s data key is wrapped under root key version {version}, which is not configured")]
    UnknownRootVersion { account_id: String, version: u32 },
    /// Stored bytes failed authentication: tampering, a row copied elsewhere, or the wrong key.
    #[error("{what} of account {account_id} does not open")]
    Tampered { account_id: String, what: String },
    /// Storage, the database, the bus, the server, a peer that did not answer, a caller asking
    /// too often, or what must not happen (the kit's one mapping to gRPC).
    #[error(transparent)]
    Infra(InfraError),
}

impl VaultError {
    /// A `VALIDATION_ERROR` naming one field.
    pub(crate) fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(ApiError::validation(vec![FieldError::new(field, message)]))
    }
}

latchkey_server::wraps_infra_error!(VaultError);

impl From<VaultError> for tonic::Status {
    fn from(error: VaultError) -> Self {
        let api_error = match error {
            VaultError::Invalid(api_error) => api_error,
            VaultError::NotFound => ApiError::not_found("secret"),
            VaultError::WriteOnly => ApiError::new(
                ErrorCode::Forbidden,
                "this credential is write-only: it is used by Latchkey and never returned",
            ),
            VaultError::VersionConflict { .. } | VaultError::Contended => {
                // FAILED_PRECONDITION: the caller re-reads and retries its compare-and-swap.
                let message = match error {
                    VaultError::VersionConflict { expected, current } => {
                        format!("the secret changed concurrently (version {current}, expected {expected}); retry")
                    }
                    _ => "concurrent writes of the same secrets kept colliding; retry".to_owned(),
                };
                let api_error = ApiError::new(ErrorCode::Unprocessable, message);
                let details = serde_json::to_vec(&api_error).unwrap_or_default();
                return tonic::Status::with_details(tonic::Code::FailedPrecondition, api_error.message, details.into());
            }
            VaultError::Infra(ref infra) => infra.to_api_error("vault"),
            VaultError::RootKeys(_) | VaultError::UnknownRootVersion { .. } | VaultError::Tampered { .. } => {
                tracing::error!(error = %error, "vault request failed");
                ApiError::internal()
            }
        };
        api_error.into()
    }
}
