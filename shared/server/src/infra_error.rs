//! The failures every service shares, under its own rules: storage, the database, the event bus,
//! the gRPC server, a peer that does not answer, a caller asking too often, and what must not
//! happen. Each service's error type wraps [`InfraError`] in one variant (`Infra`) and gets its
//! conversions from [`wraps_infra_error!`], so `?` works on all of them; the gRPC answer to each
//! is decided here, once.

use latchkey_errors::{ApiError, ErrorCode, PlanLimitReached};

pub use latchkey_events::BusError;
pub use latchkey_storage::{StorageError, sqlx::Error as SqlxError};

use crate::ServerError;

#[derive(Debug, thiserror::Error)]
pub enum InfraError {
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("database: {0}")]
    Database(#[from] SqlxError),
    #[error("event bus: {0}")]
    Bus(#[from] BusError),
    #[error("gRPC server: {0}")]
    Server(#[from] ServerError),
    /// A service this one needs did not answer, or not in time (`what` names it, for the log): the
    /// caller may retry shortly. Where it happened logs why.
    #[error("unavailable: {0}")]
    Unavailable(&'static str),
    /// The caller asks too often: `RATE_LIMITED`, with the message and the wait it is shown.
    #[error("throttled: {message}")]
    Throttled {
        message: String,
        retry_after_secs: Option<u64>,
    },
    /// The account's plan allows no more of what the request would create: `PLAN_LIMIT`.
    #[error("plan limit: {} of plan {}", .0.resource, .0.plan)]
    PlanLimit(Box<PlanLimitReached>),
    /// Something that must not happen did (`what` says what, for the log); the caller sees only a
    /// generic internal error.
    #[error("internal: {0}")]
    Internal(&'static str),
}

impl InfraError {
    /// True for a failure of the service's own database (storage or a query).
    pub fn is_storage(&self) -> bool {
        matches!(self, Self::Storage(_) | Self::Database(_))
    }

    /// The error the caller sees. Failures the caller cannot act on are logged here (as failures
    /// of `service`'s request) and answered with a generic internal error.
    pub fn to_api_error(&self, service: &'static str) -> ApiError {
        match self {
            Self::Unavailable(_) => ApiError::unavailable(),
            Self::Throttled {
                message,
                retry_after_secs,
            } => ApiError {
                retry_after_secs: *retry_after_secs,
                ..ApiError::new(ErrorCode::RateLimited, message.clone())
            },
            Self::PlanLimit(reached) => ApiError::plan_limit((**reached).clone()),
            // No connection to be had in time (the database is down, or every connection of the
            // pool is busy): the request did nothing, and may succeed in a moment.
            Self::Database(SqlxError::PoolTimedOut | SqlxError::PoolClosed | SqlxError::Io(_))
            | Self::Storage(StorageError::Database(
                SqlxError::PoolTimedOut | SqlxError::PoolClosed | SqlxError::Io(_),
            )) => {
                tracing::warn!(service, error = %self, "the database is out of reach; answering unavailable");
                ApiError::unavailable()
            }
            Self::Storage(_) | Self::Database(_) | Self::Bus(_) | Self::Server(_) | Self::Internal(_) => {
                tracing::error!(service, error = %self, "request failed");
                ApiError::internal()
            }
        }
    }
}

/// An id read back from a service's own rows (or its own tokens). The service wrote it from a typed
/// id, so one that does not parse is damaged data: logged, and an internal error to the caller, never
/// a panic. `?` turns it into the service's error.
pub fn stored_id<T>(text: String) -> Result<T, InfraError>
where
    T: TryFrom<String, Error = latchkey_ids::IdError>,
{
    T::try_from(text).map_err(|error| {
        tracing::error!(%error, "a stored id does not parse");
        InfraError::Internal("a stored id does not parse")
    })
}

/// Implements `From` each infrastructure failure for the service error `$error`, which must have a
/// variant `Infra(InfraError)`: so `?` on a storage, database, bus or server result works in the
/// service's code as it does on an [`InfraError`].
#[macro_export]
macro_rules! wraps_infra_error {
    ($error:ty) => {
        impl From<$crate::InfraError> for $error {
            fn from(error: $crate::InfraError) -> Self {
                Self::Infra(error)
            }
        }
        $crate::wraps_infra_error!(@via $error, $crate::infra_error::StorageError);
        $crate::wraps_infra_error!(@via $error, $crate::infra_error::SqlxError);
        $crate::wraps_infra_error!(@via $error, $crate::infra_error::BusError);
        $crate::wraps_infra_error!(@via $error, $crate::ServerError);
    };
    (@via $error:ty, $cause:ty) => {
        impl From<$cause> for $error {
            fn from(error: $cause) -> Self {
                Self::Infra($crate::InfraError::from(error))
            }
        }
    };
}

#[cfg(test)]
mod tests;
