//! The service's one error type, mapped once to a gRPC status. Storage failures and anything else
//! internal are logged here and reach the caller only as a generic error.

use latchkey_errors::{ApiError, ErrorCode};
use latchkey_server::InfraError;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The request is wrong; the error names the fields at fault.
    #[error(transparent)]
    Invalid(ApiError),
    #[error("policy not found")]
    PolicyNotFound,
    #[error("agent not found")]
    AgentNotFound,
    #[error("approval not found")]
    ApprovalNotFound,
    /// agent-token could not answer an agent lookup.
    #[error("agent lookup failed: {0}")]
    AgentLookup(tonic::Status),
    /// A stored policy no longer reads back; evaluation refuses rather than skip it.
    #[error("stored policy {policy_id} is unreadable: {reason}")]
    Corrupt { policy_id: String, reason: String },
    /// Storage, the database, the bus, the server, a peer that did not answer, a caller asking
    /// too often, or what must not happen (the kit's one mapping to gRPC).
    #[error(transparent)]
    Infra(InfraError),
}

impl PolicyError {
    /// A `VALIDATION_ERROR` naming one field.
    pub(crate) fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(ApiError::validation(vec![latchkey_errors::FieldError::new(
            field, message,
        )]))
    }
}

/// An id read back from the database. One that no longer parses is stored data gone bad: an
/// internal error naming `record` in the log, never a panic and never shown to the caller.
pub(crate) fn stored_id<I>(record: &str, text: &str) -> Result<I, PolicyError>
where
    I: std::str::FromStr<Err = latchkey_ids::IdError>,
{
    text.parse()
        .map_err(|error: latchkey_ids::IdError| PolicyError::Corrupt {
            policy_id: record.to_owned(),
            reason: error.to_string(),
        })
}

latchkey_server::wraps_infra_error!(PolicyError);

impl From<PolicyError> for tonic::Status {
    fn from(error: PolicyError) -> Self {
        let api_error = match error {
            PolicyError::Invalid(api_error) => api_error,
            PolicyError::PolicyNotFound => ApiError::not_found("policy"),
            PolicyError::AgentNotFound => ApiError::not_found("agent"),
            PolicyError::ApprovalNotFound => ApiError::not_found("approval"),
            PolicyError::AgentLookup(ref status) => match ApiError::from_status(status) {
                not_found if not_found.code == ErrorCode::NotFound => ApiError::not_found("agent"),
                unavailable if unavailable.code == ErrorCode::Unavailable => {
                    tracing::warn!(error = %error, "agent-token is unavailable");
                    unavailable
                }
                _ => {
                    tracing::error!(error = %error, "policy request failed");
                    ApiError::internal()
                }
            },
            PolicyError::Infra(ref infra) => infra.to_api_error("policy"),
            PolicyError::Corrupt { .. } => {
                tracing::error!(error = %error, "policy request failed");
                ApiError::internal()
            }
        };
        api_error.into()
    }
}
