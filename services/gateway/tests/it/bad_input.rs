//! Bad input of every kind answers its documented code as problem+json with the request id, and
//! writes nothing. An id in a path that is not an id of its kind is answered as an unknown one.

use axum::body::Body;
use http::Method;
use latchkey_gateway::GatewayConfig;
use serde_json::Value;

use crate::harness::{TestGateway, TestResponse};

#[tokio::test]
async fn bad_json_bodies_name_the_field_at_fault() {
    let gw = TestGateway::start().await;
    let me = gw.agent_token.add_key("acct_a", "bootstrap");
    for (body, field) in [
        (r#"{"name": "#, "body"),
        (r#"{"name": 42}"#, "name"),
        (r#"{"name": ["a"]}"#, "name"),
        (r#"{"nme": "typo"}"#, "nme"),
        (r#"["name"]"#, "body"),
        (r#"{"name": "a"} {}"#, "body"),
    ] {
        let answer = gw.post_json("/v1/api-keys", &me.secret, body).await;
        let problem = answer.assert_problem(400, "VALIDATION_ERROR");
        assert_eq!(answer.first_error_field(), field, "{body}: {problem}");
        assert!(problem["errors"][0]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(gw.agent_token.keys.lock().unwrap().len(), 1, "nothing written");
}

#[tokio::test]
async fn a_body_needs_a_json_content_type() {
    let gw = TestGateway::start().await;
    let me = gw.agent_token.add_key("acct_a", "bootstrap");
    let bearer = format!("Bearer {}", me.secret);
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        let mut headers = vec![("authorization", bearer.as_str())];
        headers.extend(content_type.map(|ct| ("content-type", ct)));
        let answer = gw
            .send(Method::POST, "/v1/api-keys", &headers, Body::from(r#"{"name":"x"}"#))
            .await;
        answer.assert_problem(415, "UNSUPPORTED_MEDIA_TYPE");
    }
    let headers = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json; charset=utf-8"),
    ];
    let answer = gw
        .send(Method::POST, "/v1/api-keys", &headers, Body::from(r#"{"name":"x"}"#))
        .await;
    assert_eq!(answer.status, 201);
}

#[tokio::test]
async fn an_oversized_body_answers_413() {
    let config = GatewayConfig {
        body_limit_bytes: 1024,
        ..GatewayConfig::default()
    };
    let gw = TestGateway::with_config(config).await;
    let me = gw.agent_token.add_key("acct_a", "bootstrap");
    let huge = serde_json::json!({ "name": "x".repeat(2048) }).to_string();
    gw.post_json("/v1/api-keys", &me.secret, &huge)
        .await
        .assert_problem(413, "PAYLOAD_TOO_LARGE");

    // Also when the size is not announced up front (a streamed body).
    let bearer = format!("Bearer {}", me.secret);
    let chunks: Vec<Result<_, std::io::Error>> = vec![Ok(huge[..1000].to_owned()), Ok(huge[1000..].to_owned())];
    let stream = Body::from_stream(futures::stream::iter(chunks));
    let headers = [("authorization", bearer.as_str()), ("content-type", "application/json")];
    gw.send(Method::POST, "/v1/api-keys", &headers, stream)
        .await
        .assert_problem(413, "PAYLOAD_TOO_LARGE");
    assert_eq!(gw.agent_token.keys.lock().unwrap().len(), 1, "nothing written");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_404_and_405() {
    let gw = TestGateway::start().await;
    let me = gw.agent_token.add_key("acct_a", "bootstrap");
    gw.get("/v1/nothing-here", &me.secret)
        .await
        .assert_problem(404, "NOT_FOUND");
    gw.get("/nothing-here", "").await.assert_problem(404, "NOT_FOUND");
    // The root leads people to the console (docs/console.md).
    let root = gw.get("/", "").await;
    assert_eq!(root.status, 303);
    assert_eq!(root.header("location"), Some("/console"));

    let bearer = format!("Bearer {}", me.secret);
    let answer = gw
        .send(
            Method::PUT,
            "/v1/api-keys",
            &[("authorization", &bearer)],
            Body::empty(),
        )
        .await;
    answer.assert_problem(405, "METHOD_NOT_ALLOWED");
    let allowed = answer.header("allow").unwrap_or_default();
    assert!(allowed.contains("GET") && allowed.contains("POST"), "{allowed}");
}

#[tokio::test]
async fn the_request_id_is_echoed_or_generated() {
    let gw = TestGateway::start().await;
    let mine = gw
        .send(
            Method::GET,
            "/healthz",
            &[("x-request-id", "trace-me-42")],
            Body::empty(),
        )
        .await;
    assert_eq!(mine.header("x-request-id"), Some("trace-me-42"));

    let generated = gw.send(Method::GET, "/healthz", &[], Body::empty()).await;
    let id = generated.header("x-request-id").expect("generated id");
    let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|_| panic!("not a UUID: {id}"));
    assert_eq!(uuid.get_version_num(), 7, "{id}");
    let next = gw.send(Method::GET, "/healthz", &[], Body::empty()).await;
    assert_ne!(next.header("x-request-id"), Some(id), "each request gets its own id");

    // Unusable ids are replaced, not echoed.
    let odd = gw
        .send(
            Method::GET,
            "/v1/nope",
            &[("x-request-id", "has spaces and <tags>")],
            Body::empty(),
        )
        .await;
    let problem = odd.assert_problem(404, "NOT_FOUND");
    assert_ne!(problem["request_id"], "has spaces and <tags>");
}

/// What a client reads of an error: everything but the path and the request id.
fn problem_of(answer: &TestResponse) -> (u16, Value) {
    let mut problem = answer.json();
    if let Some(fields) = problem.as_object_mut() {
        fields.remove("instance");
        fields.remove("request_id");
    }
    (answer.status.as_u16(), problem)
}

/// Ids of the wrong shape for the kind with `prefix`: wildcards, a dot, upper case, no body, too
/// long, and an id of another kind.
fn malformed_ids(prefix: &str) -> Vec<String> {
    vec![
        format!("{prefix}_*"),
        format!("{prefix}_%3E"),
        format!("{prefix}_a.b"),
        format!("{}_ABC", prefix.to_uppercase()),
        format!("{prefix}_"),
        prefix.to_owned(),
        format!("{prefix}_{}", "a".repeat(65)),
        "conn_0123456789abcdef".to_owned(),
    ]
}

/// `method path` with the key `secret`, and `body` as JSON when there is one.
async fn send_as(
    gw: &TestGateway,
    secret: &str,
    method: &Method,
    path: &str,
    body: Option<&'static str>,
) -> TestResponse {
    let bearer = format!("Bearer {secret}");
    let mut headers = vec![("authorization", bearer.as_str())];
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    gw.send(
        method.clone(),
        path,
        &headers,
        body.map_or_else(Body::empty, Body::from),
    )
    .await
}

#[tokio::test]
async fn a_malformed_id_in_a_path_is_answered_as_an_unknown_one_and_never_sent_on() {
    let gw = TestGateway::start().await;
    let me = gw.agent_token.add_key("acct_a", "bootstrap");
    // (method, path with `{id}`, the id's kind, a well-formed body): every route with an id.
    let replay = Some(r#"{"since": "2026-01-01T00:00:00Z"}"#);
    let routes: &[(Method, &str, &str, Option<&str>)] = &[
        (Method::GET, "/v1/agents/{id}", "agent", None),
        (Method::POST, "/v1/agents/{id}/pause", "agent", None),
        (Method::POST, "/v1/agents/{id}/resume", "agent", None),
        (Method::POST, "/v1/agents/{id}/revoke", "agent", None),
        (Method::DELETE, "/v1/agents/{id}/revoke", "agent", None),
        (Method::DELETE, "/v1/api-keys/{id}", "key", None),
        (Method::GET, "/v1/policies/{id}", "pol", None),
        (Method::PATCH, "/v1/policies/{id}", "pol", Some("{}")),
        (Method::GET, "/v1/approvals/{id}", "apr", None),
        (Method::POST, "/v1/approvals/{id}/approve", "apr", None),
        (Method::POST, "/v1/approvals/{id}/deny", "apr", None),
        (Method::GET, "/v1/webhooks/{id}", "whe", None),
        (Method::DELETE, "/v1/webhooks/{id}", "whe", None),
        (Method::POST, "/v1/webhooks/{id}/rotate-secret", "whe", Some("{}")),
        (Method::POST, "/v1/webhooks/{id}/enable", "whe", None),
        (Method::GET, "/v1/webhooks/{id}/deliveries", "whe", None),
        (
            Method::POST,
            "/v1/webhooks/{id}/deliveries/msg_0123456789abcdef/retry",
            "whe",
            None,
        ),
        (Method::POST, "/v1/webhooks/{id}/replay", "whe", replay),
        (Method::POST, "/v1/webhooks/{id}/test", "whe", None),
    ];
    for (method, template, kind, body) in routes {
        let calls_before = gw.calls.for_accounts();
        let unknown = template.replace("{id}", &format!("{kind}_0123456789abcdef"));
        let expected = problem_of(&send_as(&gw, &me.secret, method, &unknown, *body).await);
        assert_eq!(expected.0, 404, "{method} {template}: {}", expected.1);
        let calls = gw.calls.for_accounts();
        assert_eq!(calls, calls_before + 1, "an unknown id is the service's to answer");
        for malformed in malformed_ids(kind) {
            let path = template.replace("{id}", &malformed);
            let answer = send_as(&gw, &me.secret, method, &path, *body).await;
            assert_eq!(problem_of(&answer), expected, "{method} {template} with {malformed}");
        }
        assert_eq!(
            gw.calls.for_accounts(),
            calls,
            "{method} {template}: a malformed id reached the service"
        );
    }

    // The second id of a path: the message, once the endpoint id is well formed.
    let calls_before = gw.calls.for_accounts();
    for malformed in malformed_ids("msg") {
        let path = format!("/v1/webhooks/whe_0123456789abcdef/deliveries/{malformed}/retry");
        let answer = send_as(&gw, &me.secret, &Method::POST, &path, None).await;
        let problem = answer.assert_problem(404, "NOT_FOUND");
        assert_eq!(problem["detail"], "webhook message not found", "{malformed}");
    }
    assert_eq!(
        gw.calls.for_accounts(),
        calls_before,
        "a malformed message id reached the service"
    );
}
