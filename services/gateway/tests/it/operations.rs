//! /openapi.json, /docs, /metrics, /healthz, /readyz.

use axum::body::Body;
use http::Method;
use latchkey_gateway::GatewayConfig;

use crate::harness::{AGENT_TOKEN_SERVICE, TestGateway};

/// The credential proxy's statuses, the same for every method.
const PROXY: &[u16] = &[200, 400, 401, 403, 404, 413, 429, 500, 502, 503];

/// Every (method, path) the gateway serves today, with the statuses each must declare.
const ROUTES: &[(&str, &str, &[u16])] = &[
    ("post", "/v1/api-keys", &[201, 400, 401, 402, 413, 415, 429, 500, 503]),
    ("get", "/v1/api-keys", &[200, 401, 429, 500, 503]),
    ("get", "/v1/usage", &[200, 401, 429, 500, 503]),
    ("delete", "/v1/api-keys/{id}", &[204, 401, 404, 429, 500, 503]),
    ("get", "/v1/audit", &[200, 400, 401, 429, 500, 503]),
    ("get", "/v1/audit/export", &[200, 400, 401, 429, 500, 503]),
    ("get", "/v1/audit/verify", &[200, 401, 429, 500, 503]),
    ("get", "/v1/audit/checkpoints", &[200, 400, 401, 429, 500, 503]),
    ("post", "/v1/audit/checkpoints", &[201, 401, 404, 429, 500, 503]),
    ("get", "/v1/audit/checkpoints/latest", &[200, 401, 404, 429, 500, 503]),
    ("get", "/v1/audit/checkpoints/jwks.json", &[200, 500, 503]),
    (
        "get",
        "/api/service/analytics",
        &[200, 400, 401, 403, 404, 429, 500, 503],
    ),
    ("post", "/api/organizations", &[201, 400, 401, 413, 415, 429, 500, 503]),
    ("get", "/api/organizations", &[200, 401, 429, 500, 503]),
    ("get", "/api/organizations/{org_slug}", &[200, 401, 404, 429, 500, 503]),
    (
        "patch",
        "/api/organizations/{org_slug}",
        &[200, 400, 401, 404, 413, 415, 429, 500, 503],
    ),
    (
        "delete",
        "/api/organizations/{org_slug}",
        &[204, 401, 404, 422, 429, 500, 503],
    ),
    (
        "post",
        "/api/organizations/{org_slug}/services",
        &[201, 400, 401, 404, 413, 415, 429, 500, 503],
    ),
    (
        "get",
        "/api/organizations/{org_slug}/services",
        &[200, 401, 404, 429, 500, 503],
    ),
    (
        "get",
        "/api/organizations/{org_slug}/services/{service_slug}",
        &[200, 401, 404, 429, 500, 503],
    ),
    (
        "patch",
        "/api/organizations/{org_slug}/services/{service_slug}",
        &[200, 400, 401, 404, 413, 415, 429, 500, 503],
    ),
    (
        "delete",
        "/api/organizations/{org_slug}/services/{service_slug}",
        &[204, 401, 404, 429, 500, 503],
    ),
    (
        "post",
        "/api/organizations/{org_slug}/services/{service_slug}/api-keys",
        &[201, 400, 401, 404, 413, 415, 429, 500, 503],
    ),
    (
        "get",
        "/api/organizations/{org_slug}/services/{service_slug}/api-keys",
        &[200, 401, 404, 429, 500, 503],
    ),
    (
        "delete",
        "/api/organizations/{org_slug}/services/{service_slug}/api-keys/{api_key_id}",
        &[204, 401, 404, 429, 500, 503],
    ),
    ("get", "/api/service/info", &[200, 400, 401, 403, 404, 429, 500, 503]),
    (
        "patch",
        "/api/service/info",
        &[200, 400, 401, 403, 404, 413, 415, 429, 500, 503],
    ),
    ("get", "/api/service/users", &[200, 400, 401, 403, 404, 429, 500, 503]),
    (
        "post",
        "/api/service/users",
        &[201, 400, 401, 402, 403, 404, 413, 415, 429, 500, 503],
    ),
    (
        "get",
        "/api/service/users/{user_id}",
        &[200, 400, 401, 403, 404, 429, 500, 503],
    ),
    (
        "patch",
        "/api/service/users/{user_id}",
        &[200, 400, 401, 403, 404, 413, 415, 429, 500, 503],
    ),
    (
        "delete",
        "/api/service/users/{user_id}",
        &[204, 400, 401, 403, 404, 429, 500, 503],
    ),
    (
        "get",
        "/api/service/subscriptions",
        &[200, 400, 401, 403, 404, 429, 500, 503],
    ),
    (
        "post",
        "/api/service/subscriptions",
        &[201, 400, 401, 403, 404, 413, 415, 429, 500, 503],
    ),
    (
        "get",
        "/api/service/subscriptions/{user_id}",
        &[200, 400, 401, 403, 404, 429, 500, 503],
    ),
    (
        "patch",
        "/api/service/subscriptions/{user_id}",
        &[200, 400, 401, 403, 404, 413, 415, 429, 500, 503],
    ),
    (
        "delete",
        "/api/service/subscriptions/{user_id}",
        &[204, 400, 401, 403, 404, 429, 500, 503],
    ),
    ("get", "/connect/provider-token/{state}", &[302, 400, 500, 502, 503]),
    ("get", "/ai/context/summary", &[200, 401, 429, 500, 503]),
    ("get", "/ai/context/{provider}", &[200, 401, 404, 429, 500, 503]),
    (
        "get",
        "/ai/context/{provider}/{service}",
        &[200, 401, 404, 429, 500, 503],
    ),
    ("get", "/ai/skill", &[200, 500, 503]),
    ("get", "/.well-known/oauth-protected-resource", &[200]),
    ("get", "/v1/connections", &[200, 400, 401, 429, 500, 503]),
    ("get", "/proxy/{provider}/{service}/{path}", PROXY),
    ("post", "/proxy/{provider}/{service}/{path}", PROXY),
    ("put", "/proxy/{provider}/{service}/{path}", PROXY),
    ("patch", "/proxy/{provider}/{service}/{path}", PROXY),
    ("delete", "/proxy/{provider}/{service}/{path}", PROXY),
    ("get", "/credentials", &[200, 401, 429, 500, 503]),
    ("put", "/credentials", &[200, 400, 401, 413, 415, 422, 429, 500, 503]),
    ("post", "/v1/webhooks", &[201, 400, 401, 402, 413, 415, 429, 500, 503]),
    ("get", "/v1/webhooks", &[200, 401, 429, 500, 503]),
    ("get", "/v1/webhooks/{id}", &[200, 401, 404, 429, 500, 503]),
    ("delete", "/v1/webhooks/{id}", &[204, 401, 404, 429, 500, 503]),
    (
        "post",
        "/v1/webhooks/{id}/rotate-secret",
        &[200, 400, 401, 404, 413, 415, 429, 500, 503],
    ),
    ("post", "/v1/webhooks/{id}/enable", &[200, 401, 404, 429, 500, 503]),
    (
        "get",
        "/v1/webhooks/{id}/deliveries",
        &[200, 400, 401, 404, 429, 500, 503],
    ),
    (
        "post",
        "/v1/webhooks/{id}/deliveries/{message_id}/retry",
        &[202, 401, 404, 422, 429, 500, 503],
    ),
    (
        "post",
        "/v1/webhooks/{id}/replay",
        &[202, 400, 401, 404, 413, 415, 422, 429, 500, 503],
    ),
    ("post", "/v1/webhooks/{id}/test", &[202, 401, 404, 422, 429, 500, 503]),
    (
        "post",
        "/v1/domains",
        &[201, 400, 401, 402, 413, 415, 422, 429, 500, 503],
    ),
    ("get", "/v1/domains", &[200, 400, 401, 429, 500, 503]),
    ("get", "/v1/domains/{id}", &[200, 401, 404, 429, 500, 503]),
    ("delete", "/v1/domains/{id}", &[204, 401, 404, 429, 500, 503]),
    ("post", "/v1/domains/{id}/verify", &[200, 401, 404, 429, 500, 503]),
    ("post", "/v1/agents", &[201, 400, 401, 402, 413, 415, 429, 500, 503]),
    ("get", "/v1/agents", &[200, 400, 401, 429, 500, 503]),
    ("get", "/v1/agents/{id}", &[200, 401, 404, 429, 500, 503]),
    ("post", "/v1/agents/{id}/pause", &[200, 401, 404, 422, 429, 500, 503]),
    ("post", "/v1/agents/{id}/resume", &[200, 401, 404, 422, 429, 500, 503]),
    ("post", "/v1/agents/{id}/revoke", &[200, 401, 404, 422, 429, 500, 503]),
    ("delete", "/v1/agents/{id}/revoke", &[200, 401, 404, 422, 429, 500, 503]),
    (
        "post",
        "/v1/tokens",
        &[201, 202, 400, 401, 402, 403, 404, 413, 415, 422, 429, 500, 503],
    ),
    ("get", "/.well-known/jwks.json", &[200, 500, 503]),
    ("post", "/v1/tokens/verify", &[200, 400, 413, 415, 500, 503]),
    ("post", "/v1/tokens/verify/batch", &[200, 400, 413, 415, 500, 503]),
    (
        "post",
        "/v1/tokens/revoke",
        &[200, 400, 401, 404, 413, 415, 429, 500, 503],
    ),
    (
        "post",
        "/v1/tokens/delegate",
        &[201, 400, 401, 402, 403, 404, 413, 415, 500, 503],
    ),
    ("post", "/v1/policies", &[201, 400, 401, 402, 413, 415, 429, 500, 503]),
    ("get", "/v1/policies", &[200, 401, 429, 500, 503]),
    ("get", "/v1/policies/{id}", &[200, 401, 404, 429, 500, 503]),
    (
        "patch",
        "/v1/policies/{id}",
        &[200, 400, 401, 404, 413, 415, 429, 500, 503],
    ),
    (
        "post",
        "/v1/policies/evaluate",
        &[200, 400, 401, 404, 413, 415, 429, 500, 503],
    ),
    ("get", "/v1/policies/settings", &[200, 401, 429, 500, 503]),
    ("get", "/v1/approvals", &[200, 400, 401, 429, 500, 503]),
    ("get", "/v1/approvals/{id}", &[200, 401, 404, 429, 500, 503]),
    (
        "post",
        "/v1/approvals/{id}/approve",
        &[200, 401, 404, 422, 429, 500, 503],
    ),
    ("post", "/v1/approvals/{id}/deny", &[200, 401, 404, 422, 429, 500, 503]),
    (
        "put",
        "/v1/policies/settings",
        &[200, 400, 401, 413, 415, 429, 500, 503],
    ),
    (
        "post",
        "/oauth/sessions",
        &[201, 400, 401, 402, 413, 415, 429, 500, 502, 503],
    ),
    ("get", "/oauth/callback", &[200, 303, 400, 500, 503]),
    (
        "post",
        "/tokens/fetch",
        &[200, 400, 401, 403, 404, 413, 415, 429, 500, 502, 503],
    ),
    (
        "delete",
        "/oauth/connections/{provider}",
        &[200, 400, 401, 404, 429, 500, 503],
    ),
    ("get", "/docs/providers", &[200, 500, 503]),
    ("put", "/oauth/redirect-uris", &[200, 400, 401, 413, 415, 429, 500, 503]),
    ("get", "/oauth/redirect-uris", &[200, 401, 429, 500, 503]),
    ("get", "/oauth-tokens", &[200, 400, 401, 429, 500, 503]),
    (
        "post",
        "/api/service/provider-tokens",
        &[200, 400, 401, 402, 403, 404, 413, 415, 429, 500, 502, 503],
    ),
    ("get", "/auth/{provider}", &[302, 400, 401, 402, 429, 500, 502, 503]),
    ("post", "/auth/exchange", &[200, 400, 401, 413, 415, 429, 500, 502, 503]),
    (
        "post",
        "/v1/connect-links",
        &[201, 400, 401, 402, 413, 415, 429, 500, 502, 503],
    ),
    (
        "put",
        "/v1/connections/telegram",
        &[200, 400, 401, 413, 415, 429, 500, 503],
    ),
    ("get", "/v1/connections/telegram", &[200, 401, 404, 429, 500, 503]),
    ("delete", "/v1/connections/telegram", &[204, 401, 404, 429, 500, 503]),
    ("get", "/v1/oauth-apps", &[200, 401, 429, 500, 503]),
    (
        "put",
        "/v1/oauth-apps/{provider}",
        &[200, 400, 401, 413, 415, 429, 500, 503],
    ),
    (
        "delete",
        "/v1/oauth-apps/{provider}",
        &[204, 400, 401, 404, 429, 500, 503],
    ),
    (
        "post",
        "/certificates",
        &[201, 400, 401, 402, 413, 415, 422, 429, 500, 503],
    ),
    ("get", "/certificates", &[200, 401, 429, 500, 503]),
    ("get", "/certificates/active", &[200, 401, 404, 429, 500, 503]),
    ("get", "/certificates/jwks.json", &[200, 400, 500, 503]),
    ("get", "/certificates/public/{kid}", &[200, 404, 500, 503]),
    ("get", "/certificates/{id}", &[200, 401, 404, 429, 500, 503]),
    ("delete", "/certificates/{id}", &[204, 400, 401, 404, 429, 500, 503]),
    ("post", "/certificates/{id}/revoke", &[200, 401, 404, 429, 500, 503]),
    ("get", "/healthz", &[200]),
    ("get", "/readyz", &[200, 503]),
    ("get", "/metrics", &[200]),
];

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_status() {
    let gw = TestGateway::start().await;
    let answer = gw.send(Method::GET, "/openapi.json", &[], Body::empty()).await;
    assert_eq!(answer.status, 200);
    let doc = answer.json();
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );

    let mut listed = 0;
    for (method, path, statuses) in ROUTES {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} missing");
        for status in *statuses {
            assert!(
                operation["responses"][status.to_string()].is_object(),
                "{method} {path} does not declare {status}"
            );
        }
        listed += 1;
    }
    let documented: usize = doc["paths"].as_object().map_or(0, |paths| {
        paths
            .values()
            .map(|item| item.as_object().map_or(0, |ops| ops.len()))
            .sum()
    });
    assert_eq!(documented, listed, "a route this test does not know: {}", doc["paths"]);

    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["name"], "X-Api-Key");
    assert_eq!(schemes["api_key"]["in"], "header");
    let problem = &doc["components"]["responses"]["Unauthorized"]["content"]["application/problem+json"];
    assert!(problem.is_object(), "errors are declared as problem+json");
    assert!(doc["components"]["schemas"]["ProblemDocument"]["properties"]["code"].is_object());

    // Every reference resolves, so clients can generate code from the document.
    let text = doc.to_string();
    for reference in text
        .split("\"$ref\":\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
    {
        let pointer = reference.trim_start_matches('#');
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {reference}");
    }
}

#[tokio::test]
async fn the_docs_serve_swagger_ui() {
    let gw = TestGateway::start().await;
    let redirect = gw.send(Method::GET, "/docs", &[], Body::empty()).await;
    assert!(redirect.status.is_redirection());
    let page = gw.send(Method::GET, "/docs/", &[], Body::empty()).await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .is_some_and(|ct| ct.starts_with("text/html"))
    );
    assert!(String::from_utf8_lossy(&page.body).contains("swagger"));
    let config = gw
        .send(Method::GET, "/docs/swagger-initializer.js", &[], Body::empty())
        .await;
    assert!(String::from_utf8_lossy(&config.body).contains("/openapi.json"));
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let gw = TestGateway::start().await;
    let me = gw.agent_token.add_key("acct_a", "bootstrap");
    gw.delete("/v1/api-keys/key_unknown_for_metrics", &me.secret).await;
    let invented = Method::from_bytes(b"PURGE").expect("a valid method token");
    gw.send(invented, "/v1/api-keys", &[], Body::empty()).await;

    let answer = gw.send(Method::GET, "/metrics", &[], Body::empty()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("text/plain; version=0.0.4"));
    let text = String::from_utf8_lossy(&answer.body);
    let counted = text.lines().any(|line| {
        line.starts_with("latchkey_http_requests_total{")
            && line.contains(r#"method="DELETE""#)
            && line.contains(r#"route="/v1/api-keys/{id}""#)
            && line.contains(r#"status="404""#)
    });
    assert!(counted, "{text}");
    assert!(
        !text.contains("key_unknown_for_metrics"),
        "raw paths never become labels"
    );
    assert!(
        text.lines()
            .any(|line| line.starts_with("latchkey_http_requests_total{") && line.contains(r#"method="other""#)),
        "{text}"
    );
    assert!(!text.contains("PURGE"), "invented methods never become labels");
    assert!(text.contains("latchkey_http_request_duration_seconds"));
}

#[tokio::test]
async fn healthz_answers_ok() {
    let gw = TestGateway::start().await;
    let answer = gw.send(Method::GET, "/healthz", &[], Body::empty()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), serde_json::json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_fails_only_for_an_essential_service_and_names_the_others_degraded() {
    let gw = TestGateway::start().await;
    let ready = gw.send(Method::GET, "/readyz", &[], Body::empty()).await;
    assert_eq!(ready.status, 200, "{}", String::from_utf8_lossy(&ready.body));
    assert_eq!(ready.json()["status"], "ready");
    assert!(ready.json().get("degraded").is_none());
    assert!(
        ready.json()["checked"]
            .as_array()
            .is_some_and(|c| c.iter().any(|s| s == AGENT_TOKEN_SERVICE))
    );

    // Services on a port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let policy = "latchkey.policy.v1.PolicyService".to_owned();
    let gw = TestGateway::build(
        GatewayConfig::default(),
        vec![(policy.clone(), format!("http://{closed}"))],
        None,
    )
    .await;
    let degraded = gw.send(Method::GET, "/readyz", &[], Body::empty()).await;
    assert_eq!(degraded.status, 200, "policy is not essential");
    assert_eq!(degraded.json()["status"], "degraded");
    assert_eq!(degraded.json()["degraded"][0]["service"], policy.as_str());
    assert_eq!(degraded.json()["degraded"][0]["reason"], "unreachable");

    // The harness counts a second agent-token check as essential.
    let gw = TestGateway::build(
        GatewayConfig::default(),
        vec![(AGENT_TOKEN_SERVICE.to_owned(), format!("http://{closed}"))],
        None,
    )
    .await;
    let not_ready = gw.send(Method::GET, "/readyz", &[], Body::empty()).await;
    let problem = not_ready.assert_problem(503, "SERVICE_UNAVAILABLE");
    assert_eq!(not_ready.first_error_field(), AGENT_TOKEN_SERVICE);
    assert_eq!(problem["errors"].as_array().map(Vec::len), Some(1), "{problem}");
}
