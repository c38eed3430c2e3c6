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
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Params {
        limit: Option<u32>,
        order: Option<Order>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Order {
        Asc,
        Desc,
    }

    fn field_at_fault(query: &str) -> Option<String> {
        let problem = parse::<Params>(query).err()?;
        problem.0.errors.into_iter().next().map(|e| e.field)
    }

    #[test]
    fn bad_parameters_are_named() {
        assert!(parse::<Params>("limit=5&order=asc").is_ok());
        assert!(parse::<Params>("").is_ok());
        assert_eq!(field_at_fault("limit=many").as_deref(), Some("limit"));
        assert_eq!(field_at_fault("limit=-1").as_deref(), Some("limit"));
        assert_eq!(field_at_fault("order=sideways").as_deref(), Some("order"));
        assert_eq!(field_at_fault("colour=red").as_deref(), Some("colour"));
    }
}
