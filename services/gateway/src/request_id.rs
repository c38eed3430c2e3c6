//! The request id: taken from the caller's `x-request-id` when it is a sensible token, generated
//! (UUIDv7) otherwise, stored in the request's extensions and echoed on every response.

use std::sync::Arc;

use axum::{extract::Request, middleware::Next, response::Response};
use http::{HeaderName, HeaderValue};

/// The header that carries the request id both ways.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest caller-supplied id accepted; longer ones are replaced, not truncated.
const MAX_LEN: usize = 128;

/// This request's id.
#[derive(Clone, Debug)]
pub struct RequestId(Arc<str>);

impl RequestId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The caller's id if it is 1..=128 characters of `[A-Za-z0-9._:-]`, so it can go into logs
    /// and headers as is; otherwise a fresh one.
    fn from_header(value: Option<&HeaderValue>) -> Self {
        let supplied = value.and_then(|v| v.to_str().ok()).filter(|id| {
            !id.is_empty()
                && id.len() <= MAX_LEN
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
        });
        match supplied {
            Some(id) => Self(id.into()),
            None => Self(uuid::Uuid::now_v7().to_string().into()),
        }
    }
}

/// Middleware: assigns the id before anything else runs and echoes it on the way out.
pub(crate) async fn assign_request_id(mut request: Request, next: Next) -> Response {
    let id = RequestId::from_header(request.headers().get(&REQUEST_ID_HEADER));
    request.extensions_mut().insert(id.clone());
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}
