//! The request id: taken from the caller's `x-request-id` when it is a sensible token, generated
//! (UUIDv7) otherwise, stored in the request's extensions and echoed on every response.

use std::sync::Arc;

use axum::{extract::Request, response::Response};
use http::{HeaderName, HeaderValue};
use rand::RngExt;

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
    pub(crate) fn from_header(value: Option<&HeaderValue>) -> Self {
        let supplied = value.and_then(|v| v.to_str().ok()).filter(|id| {
            !id.is_empty()
                && id.len() <= MAX_LEN
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
        });
        match supplied {
            Some(id) => Self(id.into()),
            None => Self::generate(),
        }
    }

    /// A UUIDv7 whose random bits come from the thread's generator: `Uuid::now_v7` asks the kernel
    /// for them, one system call per request. Ids need to be unique, not ordered within a
    /// millisecond, so its counter is not needed either.
    fn generate() -> Self {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX));
        let random: [u8; 10] = rand::rng().random();
        let id = uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid();
        Self(id.hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()).into())
    }

    /// Gives `request` its id (the caller's or a new one) before anything else runs.
    pub(crate) fn assign(request: &mut Request) -> Self {
        let id = Self::from_header(request.headers().get(&REQUEST_ID_HEADER));
        request.extensions_mut().insert(id.clone());
        id
    }

    /// Echoes the id on the answer.
    pub(crate) fn echo(&self, response: &mut Response) {
        if let Ok(value) = HeaderValue::from_str(self.as_str()) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
    }
}
