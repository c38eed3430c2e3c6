//! The pages' way to the REST routes: JSON in, JSON or the route's problem document out.

use http::{Method, StatusCode};
use serde_json::Value;

use crate::backend::{ApiAnswer, ApiCall, Backend, ConsoleSession};

/// A route's refusal, as its problem document says it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ApiProblem {
    pub(crate) status: u16,
    pub(crate) code: String,
    pub(crate) detail: String,
    /// `(field, message)`, the field as the route names it (`rules[0].effect`).
    pub(crate) errors: Vec<(String, String)>,
}

impl ApiProblem {
    pub(crate) fn from_answer(answer: &ApiAnswer) -> Self {
        let document: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        let text = |key: &str| document.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        let errors = document
            .get("errors")
            .and_then(Value::as_array)
            .map(|errors| {
                errors
                    .iter()
                    .map(|error| {
                        let part = |key: &str| error.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
                        (part("field"), part("message"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let detail = match text("detail") {
            detail if detail.is_empty() => format!("the request failed with status {}", answer.status.as_u16()),
            detail => detail,
        };
        Self {
            status: answer.status.as_u16(),
            code: text("code"),
            detail,
            errors,
        }
    }

    /// The messages for `field` and the fields below it (`rules` takes `rules[0].effect`).
    pub(crate) fn errors_for(&self, field: &str) -> Vec<String> {
        self.errors
            .iter()
            .filter(|(name, _)| belongs(name, field))
            .map(|(name, message)| {
                if name == field {
                    message.clone()
                } else {
                    format!("{name}: {message}")
                }
            })
            .collect()
    }
}

/// Whether the error of `name` is about `field`: the field itself or one below it (`rules[0].effect`
/// is about `rules`).
pub(crate) fn belongs(name: &str, field: &str) -> bool {
    name.strip_prefix(field)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('[') || rest.starts_with('.'))
}

/// The REST routes, as one signed-in session.
#[derive(Clone, Copy)]
pub(crate) struct Api<'a> {
    pub(crate) backend: &'a dyn Backend,
    pub(crate) session: &'a ConsoleSession,
}

impl Api<'_> {
    pub(crate) async fn answer(&self, method: Method, path_and_query: String, body: Option<Value>) -> ApiAnswer {
        let call = ApiCall {
            method,
            path_and_query,
            body,
        };
        self.backend.call(self.session, call).await
    }

    async fn json(&self, method: Method, path_and_query: String, body: Option<Value>) -> Result<Value, ApiProblem> {
        let answer = self.answer(method, path_and_query, body).await;
        if !answer.status.is_success() {
            return Err(ApiProblem::from_answer(&answer));
        }
        if answer.status == StatusCode::NO_CONTENT || answer.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&answer.body).map_err(|_| ApiProblem {
            status: 502,
            code: "UPSTREAM_ERROR".to_owned(),
            detail: "the answer was not JSON".to_owned(),
            errors: Vec::new(),
        })
    }

    pub(crate) async fn get(&self, path_and_query: impl Into<String>) -> Result<Value, ApiProblem> {
        self.json(Method::GET, path_and_query.into(), None).await
    }

    pub(crate) async fn post(&self, path: impl Into<String>, body: Value) -> Result<Value, ApiProblem> {
        self.json(Method::POST, path.into(), Some(body)).await
    }

    /// A POST without a body (an action on what the path names).
    pub(crate) async fn act(&self, path: impl Into<String>) -> Result<Value, ApiProblem> {
        self.json(Method::POST, path.into(), None).await
    }

    pub(crate) async fn send(&self, method: Method, path: impl Into<String>, body: Value) -> Result<Value, ApiProblem> {
        self.json(method, path.into(), Some(body)).await
    }

    pub(crate) async fn delete(&self, path: impl Into<String>) -> Result<Value, ApiProblem> {
        self.json(Method::DELETE, path.into(), None).await
    }
}

/// `text` as one path segment: whatever a form or URL carried cannot step into another route.
pub(crate) fn segment(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A query string of the non-empty `pairs`.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        if !value.is_empty() {
            serializer.append_pair(key, value);
        }
    }
    serializer.finish()
}

/// `value[key]` as text, empty when absent.
pub(crate) fn text<'v>(value: &'v Value, key: &str) -> &'v str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// `value[key]` as a list, empty when absent.
pub(crate) fn items<'v>(value: &'v Value, key: &str) -> &'v [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_cannot_climb_out_of_its_route() {
        assert_eq!(segment("../v1/api-keys"), "..%2Fv1%2Fapi-keys");
        assert_eq!(segment("a b?c#d"), "a%20b%3Fc%23d");
    }

    #[test]
    fn errors_for_a_field_include_the_fields_below_it() {
        let problem = ApiProblem {
            errors: vec![
                ("rules[0].effect".to_owned(), "unknown effect".to_owned()),
                ("rulesets".to_owned(), "no".to_owned()),
                ("name".to_owned(), "required".to_owned()),
            ],
            ..ApiProblem::default()
        };
        assert_eq!(problem.errors_for("rules"), vec!["rules[0].effect: unknown effect"]);
        assert_eq!(problem.errors_for("name"), vec!["required"]);
    }
}
