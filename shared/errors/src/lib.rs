//! The error codes Latchkey documents (API.md) and their one mapping: each code has one HTTP status
//! and one gRPC status code. Services answer gRPC calls with an [`ApiError`] packed into the status
//! details, so the gateway can show the caller the exact documented code, message and field errors
//! without guessing from the gRPC code alone.

use serde::{Deserialize, Serialize};

/// A documented error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    ValidationError,
    TokenExpired,
    SessionExpired,
    Unauthorized,
    PlanLimit,
    Forbidden,
    NotFound,
    IntegrationNotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unprocessable,
    RateLimited,
    InternalError,
    UpstreamError,
    Unavailable,
}

impl ErrorCode {
    /// Every code, in the order API.md lists them.
    pub const ALL: [Self; 16] = [
        Self::ValidationError,
        Self::TokenExpired,
        Self::SessionExpired,
        Self::Unauthorized,
        Self::PlanLimit,
        Self::Forbidden,
        Self::NotFound,
        Self::IntegrationNotFound,
        Self::MethodNotAllowed,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::Unprocessable,
        Self::RateLimited,
        Self::InternalError,
        Self::UpstreamError,
        Self::Unavailable,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ValidationError => "VALIDATION_ERROR",
            Self::TokenExpired => "TOKEN_EXPIRED",
            Self::SessionExpired => "SESSION_EXPIRED",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::PlanLimit => "PLAN_LIMIT",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::IntegrationNotFound => "INTEGRATION_NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::Unprocessable => "UNPROCESSABLE",
            Self::RateLimited => "RATE_LIMITED",
            Self::InternalError => "INTERNAL_ERROR",
            Self::UpstreamError => "UPSTREAM_ERROR",
            Self::Unavailable => "SERVICE_UNAVAILABLE",
        }
    }

    pub const fn http_status(self) -> u16 {
        match self {
            Self::ValidationError | Self::TokenExpired | Self::SessionExpired => 400,
            Self::Unauthorized => 401,
            Self::PlanLimit => 402,
            Self::Forbidden => 403,
            Self::NotFound | Self::IntegrationNotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::Unprocessable => 422,
            Self::RateLimited => 429,
            Self::InternalError => 500,
            Self::UpstreamError => 502,
            Self::Unavailable => 503,
        }
    }

    pub const fn grpc_code(self) -> tonic::Code {
        use tonic::Code;
        match self {
            Self::ValidationError | Self::Unprocessable | Self::PayloadTooLarge | Self::UnsupportedMediaType => {
                Code::InvalidArgument
            }
            Self::TokenExpired | Self::SessionExpired => Code::FailedPrecondition,
            Self::Unauthorized => Code::Unauthenticated,
            Self::Forbidden => Code::PermissionDenied,
            Self::PlanLimit | Self::RateLimited => Code::ResourceExhausted,
            Self::NotFound | Self::IntegrationNotFound => Code::NotFound,
            Self::MethodNotAllowed => Code::Unimplemented,
            Self::InternalError => Code::Internal,
            Self::UpstreamError | Self::Unavailable => Code::Unavailable,
        }
    }

    /// The code a bare gRPC status stands for, when it carries no [`ApiError`] details (a transport
    /// failure, or a peer that is not ours).
    pub const fn from_grpc(code: tonic::Code) -> Self {
        use tonic::Code;
        match code {
            Code::InvalidArgument | Code::OutOfRange => Self::ValidationError,
            Code::Unauthenticated => Self::Unauthorized,
            Code::PermissionDenied => Self::Forbidden,
            Code::NotFound => Self::NotFound,
            Code::ResourceExhausted => Self::RateLimited,
            Code::FailedPrecondition | Code::AlreadyExists | Code::Aborted => Self::Unprocessable,
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => Self::Unavailable,
            _ => Self::InternalError,
        }
    }

    /// A short title for the problem document.
    pub const fn title(self) -> &'static str {
        match self {
            Self::ValidationError => "Invalid request",
            Self::TokenExpired => "Token expired",
            Self::SessionExpired => "Session expired",
            Self::Unauthorized => "Missing or invalid API key",
            Self::PlanLimit => "Plan limit reached",
            Self::Forbidden => "Forbidden",
            Self::NotFound => "Not found",
            Self::IntegrationNotFound => "Provider not connected",
            Self::MethodNotAllowed => "Method not allowed",
            Self::PayloadTooLarge => "Request body too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::Unprocessable => "Unprocessable request",
            Self::RateLimited => "Too many requests",
            Self::InternalError => "Internal error",
            Self::UpstreamError => "Upstream service error",
            Self::Unavailable => "Service unavailable",
        }
    }
}

/// One problem with one field of the request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field's name as the client sent it (JSON pointer-like, e.g. `scope` or `rules[0].effect`).
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An error a caller may see: the documented code, a message a person can act on, and the fields at
/// fault. Never carries internal error text: build it from a typed cause, log the cause.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Seconds to wait before retrying, for `RATE_LIMITED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
    /// Which limit of which plan was reached, for `PLAN_LIMIT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_limit: Option<Box<PlanLimitReached>>,
}

/// A plan's limit that a request would pass: the plan, what is limited (`agents`, `api_keys`, …),
/// the limit and the account's usage of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanLimitReached {
    pub plan: String,
    pub resource: String,
    pub limit: u64,
    pub usage: u64,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            errors: Vec::new(),
            retry_after_secs: None,
            plan_limit: None,
        }
    }

    /// A `PLAN_LIMIT`: the account's plan allows no more of `reached.resource`.
    pub fn plan_limit(reached: PlanLimitReached) -> Self {
        let message = format!(
            "the plan `{}` allows {} {}; the account has {}: delete some or change the plan",
            reached.plan,
            reached.limit,
            reached.resource.replace('_', " "),
            reached.usage
        );
        Self {
            plan_limit: Some(Box::new(reached)),
            ..Self::new(ErrorCode::PlanLimit, message)
        }
    }

    /// A `VALIDATION_ERROR` naming the fields at fault.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let message = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            _ => "the request has invalid fields".to_owned(),
        };
        Self {
            errors,
            ..Self::new(ErrorCode::ValidationError, message)
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn unauthorized() -> Self {
        Self::new(ErrorCode::Unauthorized, "missing or invalid API key")
    }

    /// The generic answer to a failure the caller cannot act on; the cause belongs in the log.
    pub fn internal() -> Self {
        Self::new(
            ErrorCode::InternalError,
            "internal error; the request id identifies it in the logs",
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            ErrorCode::Unavailable,
            "a Latchkey service is unavailable; retry shortly",
        )
    }

    /// Reads the error a Latchkey service packed into `status`, or derives one from its code.
    pub fn from_status(status: &tonic::Status) -> Self {
        if let Ok(error) = serde_json::from_slice::<ApiError>(status.details()) {
            return error;
        }
        match ErrorCode::from_grpc(status.code()) {
            ErrorCode::InternalError => Self::internal(),
            ErrorCode::Unavailable => Self::unavailable(),
            code => Self::new(code, code.title()),
        }
    }
}

impl From<ApiError> for tonic::Status {
    fn from(error: ApiError) -> Self {
        let details = serde_json::to_vec(&error).unwrap_or_default();
        tonic::Status::with_details(error.code.grpc_code(), error.message, details.into())
    }
}

#[cfg(test)]
mod tests;
