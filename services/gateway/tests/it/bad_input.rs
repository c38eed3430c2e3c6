//! Bad input of every kind answers its documented code as problem+json with the request id, and
//! writes nothing.

use axum::body::Body;
use http::Method;
use latchkey_gateway::GatewayConfig;

use crate::harness::TestGateway;

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
    gw.get("/", "").await.assert_problem(404, "NOT_FOUND");

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
