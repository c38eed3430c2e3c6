//! Bad input answers its documented code as problem+json with a request id, and writes nothing.

use latchkey_storage::Backend;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use latchkey_test_support::captured;

use crate::support::{Bus, TestMesh};

async fn problem(response: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "status for {code}");
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/problem+json"), "{content_type}");
    let request_id = response
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    assert!(
        body["request_id"]
            .as_str()
            .is_some_and(|id| Some(id.to_owned()) == request_id),
        "{body}"
    );
    body
}

#[tokio::test]
async fn bad_requests_answer_their_documented_codes_and_write_nothing() {
    captured::install();
    let t = TestMesh::start(Backend::Sqlite, Bus::Local).await;
    let keys_before = t.list_keys(&t.key).await.len();
    let post = |body: &'static str| {
        t.as_key(Method::POST, "/v1/api-keys", &t.key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    problem(
        post("{not json").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    )
    .await;
    let wrong_type = problem(
        post(r#"{"name": 42}"#).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(wrong_type["errors"][0]["field"], "name", "{wrong_type}");
    let blank = problem(
        post(r#"{"name": "   "}"#).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(blank["errors"][0]["field"], "name", "{blank}");
    let too_long = format!(r#"{{"name": "{}"}}"#, "x".repeat(101));
    let response = t
        .as_key(Method::POST, "/v1/api-keys", &t.key)
        .header("content-type", "application/json")
        .body(too_long)
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;

    let oversized = format!(r#"{{"name": "{}"}}"#, "x".repeat(2 * 1024 * 1024));
    let response = t
        .as_key(Method::POST, "/v1/api-keys", &t.key)
        .header("content-type", "application/json")
        .body(oversized)
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;

    let response = t.as_key(Method::GET, "/v1/no-such-thing", &t.key).send().await.unwrap();
    problem(response, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    let response = t
        .as_key(Method::DELETE, "/v1/api-keys/key_doesnotexist00", &t.key)
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    let response = t
        .as_key(Method::GET, "/v1/audit?limit=100000", &t.key)
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    // Unknown records of the services behind the gateway: each service answers NOT_FOUND.
    let mut not_found_request_ids = Vec::new();
    for path in [
        "/v1/agents/agent_doesnotexist0000",
        "/v1/policies/pol_doesnotexist00000",
        "/v1/webhooks/whe_doesnotexist00000",
    ] {
        let response = t.as_key(Method::GET, path, &t.key).send().await.unwrap();
        let body = problem(response, StatusCode::NOT_FOUND, "NOT_FOUND").await;
        not_found_request_ids.push(body["request_id"].as_str().unwrap().to_owned());
    }

    // Missing, malformed, unknown and deleted keys.
    let response = t.http.get(t.url("/v1/api-keys")).send().await.unwrap();
    problem(response, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    for bad in [
        "garbage",
        "lk_live_tooshort",
        "lk_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let response = t
            .http
            .get(t.url("/v1/api-keys"))
            .header("x-api-key", bad)
            .send()
            .await
            .unwrap();
        problem(response, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    }
    let response = t
        .http
        .get(t.url("/v1/api-keys"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    let doomed = t.create_key(&t.key, "doomed").await;
    let doomed_secret = doomed["key"].as_str().unwrap().to_owned();
    let deleted = t
        .as_key(
            Method::DELETE,
            &format!("/v1/api-keys/{}", doomed["id"].as_str().unwrap()),
            &t.key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let response = t
        .as_key(Method::POST, "/v1/api-keys", &doomed_secret)
        .json(&serde_json::json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;

    // Nothing was written: the keys are as before, and the audit chain holds only the events of
    // the one valid create and delete above (account, bootstrap key, doomed created, doomed deleted).
    assert_eq!(t.list_keys(&t.key).await.len(), keys_before);
    let entries = t.audit_entries_at_least(&t.key, 4).await;
    assert_eq!(entries.len(), 4, "{entries:?}");

    // A client's mistakes are answered, not logged as the operator's errors: an ERROR line is for
    // what someone running Latchkey must look at. Each service logs its refusal at DEBUG, under the
    // request's id (other tests of this binary may log errors of their own, so only these count).
    let logs = captured::logs();
    for request_id in &not_found_request_ids {
        let lines: Vec<&str> = logs.lines().filter(|line| line.contains(request_id.as_str())).collect();
        assert!(
            lines
                .iter()
                .any(|line| line.contains(" DEBUG ") && line.contains("not found")),
            "no service logged the refusal of {request_id}: {lines:#?}"
        );
        let errors: Vec<&&str> = lines.iter().filter(|line| line.contains(" ERROR ")).collect();
        assert!(errors.is_empty(), "{errors:#?}");
    }
    t.stop().await;
}

#[tokio::test]
async fn a_key_over_its_rate_limit_gets_429_with_retry_after() {
    let config = latchkey_gateway::GatewayConfig {
        rate_limit_per_second: 1,
        rate_limit_burst: 3,
        ..latchkey_gateway::GatewayConfig::default()
    };
    let t = TestMesh::start_with(Backend::Sqlite, Bus::Local, config).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let response = t.as_key(Method::GET, "/v1/api-keys", &t.key).send().await.unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            assert!(retry_after >= 1);
            problem(response, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
            statuses.push(429);
        } else {
            statuses.push(response.status().as_u16());
        }
    }
    assert_eq!(&statuses[..3], [200, 200, 200]);
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    t.stop().await;
}

/// Found by schemathesis (`make schemathesis`): the service API answered a write-only key with a 403
/// its OpenAPI description did not declare, so a generated client had no type for it.
#[tokio::test]
async fn a_write_only_key_asked_at_the_service_api_is_a_declared_403() {
    let t = TestMesh::start(Backend::Sqlite, Bus::Local).await;
    let stored = t
        .as_key(Method::PUT, "/credentials", &t.key)
        .json(&serde_json::json!({ "stripeApiKey": "sk_live_stripe_0123456789", "writeOnly": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), StatusCode::OK);
    // The service API, called with the account's key naming one of its services, for a user of it.
    for (path, body) in [
        (
            "/api/organizations",
            serde_json::json!({ "slug": "acme", "name": "Acme" }),
        ),
        (
            "/api/organizations/acme/services",
            serde_json::json!({ "slug": "app", "name": "App" }),
        ),
    ] {
        let response = t.as_key(Method::POST, path, &t.key).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{path}");
    }
    let user: Value = t
        .as_key(Method::POST, "/api/service/users", &t.key)
        .header("x-latchkey-service", "acme/app")
        .json(&serde_json::json!({ "email": "user@example.com" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = t
        .as_key(Method::POST, "/api/service/provider-tokens", &t.key)
        .header("x-latchkey-service", "acme/app")
        .json(&serde_json::json!({ "provider": "stripe", "user_id": user["id"] }))
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;

    let document: Value = reqwest::get(t.url("/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let declared = &document["paths"]["/api/service/provider-tokens"]["post"]["responses"]["403"];
    assert_eq!(declared["$ref"], "#/components/responses/Forbidden", "{declared}");
    t.stop().await;
}
