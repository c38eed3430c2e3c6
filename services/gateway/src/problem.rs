//! The one error body (RFC 9457 `application/problem+json`) and the one mapping to it. Handlers and
//! extractors fail with a [`Problem`] carrying an [`ApiError`]; [`render`], called by the `edge`
//! middleware with the request id and path, turns it into the document. Error statuses that axum or a layer
//! produce on their own (unknown route, wrong method, ...) get the same body, so a client never sees
//! two error shapes.

use std::fmt::Display;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use latchkey_errors::{ApiError, ErrorCode};
use serde::Serialize;
use utoipa::ToSchema;

use crate::request_id::RequestId;

/// The media type of every error body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// A failed request, on its way to becoming a problem document.
#[derive(Debug)]
pub struct Problem(pub ApiError);

impl Problem {
    /// A failure the caller cannot act on: the cause goes to the log (inside the request's span, so
    /// with its request id), the caller gets a generic message.
    pub fn internal(cause: &dyn Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self(ApiError::internal())
    }
}

impl From<ApiError> for Problem {
    fn from(error: ApiError) -> Self {
        Self(error)
    }
}

impl From<tonic::Status> for Problem {
    fn from(status: tonic::Status) -> Self {
        let error = ApiError::from_status(&status);
        if matches!(
            error.code,
            ErrorCode::InternalError | ErrorCode::Unavailable | ErrorCode::UpstreamError
        ) {
            // The status message may carry internal detail: it is logged, never shown.
            tracing::warn!(grpc.code = ?status.code(), grpc.message = status.message(), "service call failed");
        }
        Self(error)
    }
}

/// Carries the error from the handler to [`render`] in the response's extensions.
#[derive(Clone)]
struct PendingProblem(ApiError);

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = status_of(self.0.code).into_response();
        response.extensions_mut().insert(PendingProblem(self.0));
        response
    }
}

/// The problem document every error answers with.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "https://latchkey.dev/problems/validation-error",
    "title": "Invalid request",
    "status": 400,
    "detail": "name: must be at most 100 characters",
    "instance": "/v1/api-keys",
    "code": "VALIDATION_ERROR",
    "request_id": "0192f1c5-8d7e-7c3a-9b1e-4f0e2d6a1b2c",
    "errors": [{"field": "name", "message": "must be at most 100 characters"}]
}))]
pub struct ProblemDocument {
    /// A URI naming the problem type: `https://latchkey.dev/problems/<code in kebab case>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request, in words a person can act on.
    pub detail: String,
    /// The request path.
    pub instance: String,
    /// The documented error code, e.g. `VALIDATION_ERROR`, `UNAUTHORIZED`, `RATE_LIMITED`; what
    /// clients should branch on.
    #[schema(example = "VALIDATION_ERROR")]
    pub code: String,
    /// The request id (also in the `x-request-id` header); quote it when reporting a problem.
    pub request_id: String,
    /// The fields at fault, when there are any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemFieldError>,
    /// For `PLAN_LIMIT`: the account's plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "free")]
    pub plan: Option<String>,
    /// For `PLAN_LIMIT`: what the plan limits, e.g. `agents`, `api_keys`, `tokens_per_month`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// For `PLAN_LIMIT`: how many the plan allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// For `PLAN_LIMIT`: how many the account has (or used this month).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<u64>,
}

/// One problem with one field of the request.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemFieldError {
    /// The field as the client sent it, e.g. `name` or `limit`.
    pub field: String,
    pub message: String,
}

impl ProblemDocument {
    fn new(error: ApiError, instance: &str, request_id: &str) -> Self {
        let plan_limit = error.plan_limit;
        Self {
            problem_type: problem_type_uri(error.code),
            title: error.code.title().to_owned(),
            status: error.code.http_status(),
            detail: error.message,
            instance: instance.to_owned(),
            code: error.code.as_str().to_owned(),
            request_id: request_id.to_owned(),
            errors: error
                .errors
                .into_iter()
                .map(|e| ProblemFieldError {
                    field: e.field,
                    message: e.message,
                })
                .collect(),
            limit: plan_limit.as_ref().map(|reached| reached.limit),
            usage: plan_limit.as_ref().map(|reached| reached.usage),
            resource: plan_limit.as_ref().map(|reached| reached.resource.clone()),
            plan: plan_limit.map(|reached| reached.plan),
        }
    }
}

/// `https://latchkey.dev/problems/validation-error` for `VALIDATION_ERROR`.
pub fn problem_type_uri(code: ErrorCode) -> String {
    format!(
        "https://latchkey.dev/problems/{}",
        code.as_str().to_ascii_lowercase().replace('_', "-")
    )
}

fn status_of(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The error code for a status some layer answered with on its own.
fn code_for_status(status: StatusCode) -> ErrorCode {
    match status {
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
        StatusCode::FORBIDDEN => ErrorCode::Forbidden,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::Unprocessable,
        StatusCode::SERVICE_UNAVAILABLE => ErrorCode::Unavailable,
        s if s.is_client_error() => ErrorCode::ValidationError,
        _ => ErrorCode::InternalError,
    }
}

fn synthesized(status: StatusCode) -> ApiError {
    let code = code_for_status(status);
    let message = match code {
        ErrorCode::NotFound => "no such resource; see /openapi.json for the routes",
        ErrorCode::MethodNotAllowed => "this path does not accept that method; the Allow header lists those it does",
        ErrorCode::PayloadTooLarge => "the request body is larger than this server accepts",
        ErrorCode::UnsupportedMediaType => "send the body as application/json",
        ErrorCode::InternalError => return ApiError::internal(),
        other => other.title(),
    };
    ApiError::new(code, message)
}

/// Renders an error response as a problem document with the request's path and id; any other
/// response passes as it is.
pub(crate) fn render(mut response: Response, path: &str, request_id: &RequestId) -> Response {
    let error = match response.extensions_mut().remove::<PendingProblem>() {
        Some(PendingProblem(error)) => error,
        None if is_bare_error(&response) => synthesized(response.status()),
        None => return response,
    };
    problem_response(response.status(), response.headers(), error, path, request_id.as_str())
}

/// An error answer that is not already a document: axum's plain-text rejections and empty
/// statuses. A console page (HTML, for a person) is a document of its own and stays as it is.
fn is_bare_error(response: &Response) -> bool {
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE).map(HeaderValue::as_bytes);
    (status.is_client_error() || status.is_server_error())
        && content_type != Some(PROBLEM_CONTENT_TYPE.as_bytes())
        && !content_type.is_some_and(|value| value.starts_with(b"text/html"))
}

fn problem_response(
    status: StatusCode,
    original_headers: &HeaderMap,
    error: ApiError,
    instance: &str,
    request_id: &str,
) -> Response {
    let retry_after = error.retry_after_secs;
    let code = error.code;
    let body = serde_json::to_vec(&ProblemDocument::new(error, instance, request_id)).unwrap_or_default();
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    // Keep what the inner layers said (Allow, Retry-After, ...), except the old body's framing.
    for (name, value) in original_headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            headers.append(name.clone(), value.clone());
        }
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_CONTENT_TYPE));
    if let Some(seconds) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if code == ErrorCode::Unauthorized && !headers.contains_key(header::WWW_AUTHENTICATE) {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}
