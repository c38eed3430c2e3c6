//! The service's one error type, mapped once to a gRPC status. Storage failures and anything else
//! internal are logged by the kit and reach the caller only as a generic error.

use latchkey_errors::{ApiError, ErrorCode, FieldError};
use latchkey_server::InfraError;

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The request is wrong; the error names the fields at fault.
    #[error(transparent)]
    Invalid(ApiError),
    #[error("organization not found")]
    OrganizationNotFound,
    /// Also the answer for another account's service, or a service another key acts for.
    #[error("service not found")]
    ServiceNotFound,
    #[error("service API key not found")]
    KeyNotFound,
    /// Also the answer for another service's user: its existence is not confirmed.
    #[error("user not found")]
    UserNotFound,
    #[error("subscription not found")]
    SubscriptionNotFound,
    /// The presented service API key is unknown, deleted or malformed.
    #[error("the service API key is not valid")]
    Unauthenticated,
    /// The request is well formed but the state refuses it (an organization that holds services).
    #[error("{0}")]
    Unprocessable(String),
    /// The service does not allow what was asked (a provider or scope outside its lists).
    #[error("{0}")]
    Forbidden(String),
    /// Storage, the database, the bus, the server, or a plan's limit (the kit's one mapping).
    #[error(transparent)]
    Infra(InfraError),
}

impl DirectoryError {
    /// A `VALIDATION_ERROR` naming one field.
    pub(crate) fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(ApiError::validation(vec![FieldError::new(field, message)]))
    }
}

latchkey_server::wraps_infra_error!(DirectoryError);

impl From<DirectoryError> for tonic::Status {
    fn from(error: DirectoryError) -> Self {
        let api_error = match error {
            DirectoryError::Invalid(api_error) => api_error,
            DirectoryError::OrganizationNotFound => ApiError::not_found("organization"),
            DirectoryError::ServiceNotFound => ApiError::not_found("service"),
            DirectoryError::KeyNotFound => ApiError::not_found("service API key"),
            DirectoryError::UserNotFound => ApiError::not_found("user"),
            DirectoryError::SubscriptionNotFound => ApiError::not_found("subscription"),
            DirectoryError::Unauthenticated => {
                ApiError::new(ErrorCode::Unauthorized, "the service API key is not valid")
            }
            DirectoryError::Unprocessable(message) => ApiError::new(ErrorCode::Unprocessable, message),
            DirectoryError::Forbidden(message) => ApiError::new(ErrorCode::Forbidden, message),
            DirectoryError::Infra(ref infra) => infra.to_api_error("directory"),
        };
        api_error.into()
    }
}
