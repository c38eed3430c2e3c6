use serde::Deserialize;

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Body {
    name: String,
    inner: Option<Inner>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Inner {
    count: u32,
}

fn first_error(body: &str) -> (String, String) {
    let problem = parse::<Body>(body.as_bytes()).err().map(|p| p.0);
    let error = problem.and_then(|e| e.errors.into_iter().next());
    error.map(|e| (e.field, e.message)).unwrap_or_default()
}

#[test]
fn each_kind_of_bad_body_names_its_field() {
    assert_eq!(first_error(r#"{}"#), ("name".into(), "is required".into()));
    assert_eq!(first_error(r#"{"name": 5}"#).0, "name");
    assert_eq!(first_error(r#"{"name": "a", "nope": 1}"#).0, "nope");
    assert_eq!(
        first_error(r#"{"name": "a", "inner": {"count": 1, "nope": 1}}"#).0,
        "inner.nope"
    );
    assert_eq!(
        first_error(r#"{"name": "a", "inner": {"count": "x"}}"#).0,
        "inner.count"
    );
    assert_eq!(first_error(r#"{"name": "a", "inner": {}}"#).0, "inner.count");
    assert_eq!(first_error(r#"{"name": "#).0, "body");
    assert_eq!(first_error(r#"{"name": "a"} trailing"#).0, "body");
    assert_eq!(first_error(r#"[1]"#).0, "body");
}

#[test]
fn json_content_types_are_recognised() {
    let with = |value: &'static str| {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, http::HeaderValue::from_static(value));
        json_content_type(&headers)
    };
    assert_eq!(with("application/json"), Some(true));
    assert_eq!(with("application/json; charset=utf-8"), Some(true));
    assert_eq!(with("application/merge-patch+json"), Some(true));
    assert_eq!(with("text/plain"), Some(false));
    assert_eq!(json_content_type(&HeaderMap::new()), None);
}
