//! The JSON body extractor. Unlike axum's `Json`, every way a body can be wrong becomes our problem
//! document: a non-JSON content type is 415 `UNSUPPORTED_MEDIA_TYPE`, a body over the limit 413
//! `PAYLOAD_TOO_LARGE`, and malformed JSON, a missing field, a wrong type or an unknown field
//! 400 `VALIDATION_ERROR` naming the field.

use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use latchkey_errors::{ApiError, ErrorCode, FieldError};
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// A JSON request body of type `T`. An empty body or `null` reads as `{}`, so bodies whose fields
/// are all optional may be left out.
#[derive(Debug)]
pub struct ValidJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ValidJson<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let declared_json = match json_content_type(request.headers()) {
            Some(true) => true,
            Some(false) => return Err(unsupported_media_type()),
            None => false,
        };
        let body = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem(ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    "the request body is larger than this server accepts",
                ))
            } else {
                tracing::debug!(rejection = %rejection.body_text(), "could not read the request body");
                Problem(ApiError::validation(vec![FieldError::new(
                    "body",
                    "the request body could not be read",
                )]))
            }
        })?;
        if body.is_empty() {
            return parse(b"{}").map(ValidJson);
        }
        if !declared_json {
            return Err(unsupported_media_type());
        }
        // `null` is how the OpenAPI document spells an optional body; it means no fields.
        if body.trim_ascii() == b"null" {
            return parse(b"{}").map(ValidJson);
        }
        parse(&body).map(ValidJson)
    }
}

/// `None` without a Content-Type; otherwise whether it is `application/json` or `application/*+json`.
fn json_content_type(headers: &HeaderMap) -> Option<bool> {
    let value = headers.get(header::CONTENT_TYPE)?;
    let Ok(value) = value.to_str() else {
        return Some(false);
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    Some(
        essence == "application/json"
            || essence
                .strip_prefix("application/")
                .is_some_and(|subtype| subtype.ends_with("+json")),
    )
}

fn unsupported_media_type() -> Problem {
    Problem(ApiError::new(
        ErrorCode::UnsupportedMediaType,
        "send the request body as JSON with `Content-Type: application/json`",
    ))
}

/// Deserialises `body`, naming the field at fault when it does not fit `T`.
///
/// Every body is a JSON object; serde would otherwise read a struct from an array, position by
/// position, and report errors at `[0]`.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Problem(ApiError::validation(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )])));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        Problem(ApiError::validation(vec![field_error(&path, &inner)]))
    })?;
    deserializer
        .end()
        .map_err(|error| Problem(ApiError::validation(vec![field_error(".", &error)])))?;
    Ok(value)
}

fn field_error(path: &str, error: &serde_json::Error) -> FieldError {
    use serde_json::error::Category;
    match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => FieldError::new("body", format!("malformed JSON: {error}")),
        Category::Data => {
            let message = error.to_string();
            // serde_json appends the position; the field name says more.
            let message = message.split(" at line ").next().unwrap_or(&message);
            data_field_error(path, message)
        }
    }
}

/// A `FieldError` for a serde data error at `path` (`.` for the top level). A missing field is
/// reported at the path of the object that lacks it, so its name comes from the message.
pub(crate) fn data_field_error(path: &str, message: &str) -> FieldError {
    if let Some(field) = quoted_after(message, "missing field `") {
        let field = if path == "." {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        };
        return FieldError::new(field, "is required");
    }
    if let Some(field) = quoted_after(message, "unknown field `") {
        // The path already ends with the unknown key.
        let field = if path == "." { field } else { path };
        return FieldError::new(field, format!("is not a known field ({message})"));
    }
    let field = if path == "." { "body" } else { path };
    FieldError::new(field, message)
}

/// The text between `prefix` and the next backtick in `message`.
fn quoted_after<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    rest.split('`').next()
}

#[cfg(test)]
mod tests;
