//! The query-string extractor: a parameter of the wrong type, an unknown parameter or a bad value
//! becomes 400 `VALIDATION_ERROR` naming the parameter, like a bad JSON field.

use axum::extract::FromRequestParts;
use http::request::Parts;
use latchkey_errors::ApiError;
use serde::de::DeserializeOwned;

use crate::{json::data_field_error, problem::Problem};

/// Query parameters deserialised into `T`.
#[derive(Debug)]
pub struct ValidQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ValidQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse(parts.uri.query().unwrap_or_default()).map(ValidQuery)
    }
}

pub(crate) fn parse<T: DeserializeOwned>(query: &str) -> Result<T, Problem> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        Problem(ApiError::validation(vec![data_field_error(&path, &message)]))
    })
}

#[cfg(test)]
mod tests;
