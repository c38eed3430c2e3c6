//! Authentication: both header styles, every way a key can be wrong, and the key cache with its
//! deletion feed on both bus implementations.

use std::{sync::atomic::Ordering, time::Duration};

use axum::body::Body;
use http::Method;
use latchkey_events::{Envelope, catalogue::ApiKeyDeleted};
use latchkey_gateway::GatewayConfig;
use latchkey_test_support::{BusKind, TestBus, read_until};
use sha2::{Digest, Sha256};

use crate::{fakes::StoredKey, harness::TestGateway};

/// How long a published deletion may take to arrive: well inside the key cache's 60 s, so a key
/// that stops within it was stopped by its event.
const EVENT_DEADLINE: Duration = Duration::from_secs(20);

#[tokio::test]
async fn both_header_styles_authenticate() {
    let gw = TestGateway::start().await;
    let me = gw.agent_token.add_key("acct_a", "bootstrap");
    let bearer = format!("Bearer {}", me.secret);
    for header in [("authorization", bearer.as_str()), ("x-api-key", me.secret.as_str())] {
        let answer = gw.send(Method::GET, "/v1/api-keys", &[header], Body::empty()).await;
        assert_eq!(answer.status, 200, "{}", header.0);
    }
}

#[tokio::test]
async fn missing_malformed_and_unknown_keys_answer_401() {
    let gw = TestGateway::start().await;
    gw.agent_token.add_key("acct_a", "bootstrap");
    let cases: &[&[(&str, &str)]] = &[
        &[],
        &[("authorization", "Basic dXNlcjpwYXNz")],
        &[("authorization", "Bearer")],
        &[("authorization", "Bearer two parts")],
        &[("x-api-key", "")],
        &[("authorization", "Bearer lk_live_unknown")],
        &[("x-api-key", "lk_live_unknown")],
    ];
    for headers in cases {
        let answer = gw.send(Method::GET, "/v1/api-keys", headers, Body::empty()).await;
        answer.assert_problem(401, "UNAUTHORIZED");
        assert_eq!(answer.header("www-authenticate"), Some("Bearer"), "{headers:?}");
    }
    // Unauthenticated writes are refused before the body is even looked at, and write nothing.
    let answer = gw
        .send(Method::POST, "/v1/api-keys", &[], Body::from("{not json"))
        .await;
    answer.assert_problem(401, "UNAUTHORIZED");
    assert_eq!(gw.agent_token.keys.lock().unwrap().len(), 1);
}

/// The document is the contract clients and schemathesis read: an operation it says needs a key
/// refuses a request without one, and one it says is public does not ask for a key.
#[tokio::test]
async fn the_document_says_which_operations_need_a_key() {
    let gw = TestGateway::start().await;
    let document = latchkey_gateway::openapi();
    let mut secured = 0;
    for (path, item) in &document.paths.paths {
        // A placeholder for every path parameter: authentication comes before the id is read.
        let path = path.replace(['{', '}'], "");
        let operations = [
            (Method::GET, &item.get),
            (Method::PUT, &item.put),
            (Method::POST, &item.post),
            (Method::DELETE, &item.delete),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            let answer = gw.send(method.clone(), &path, &[], Body::empty()).await;
            let refused_for_no_key = answer.status == 401 && answer.header("www-authenticate") == Some("Bearer");
            if operation.security.is_some() {
                secured += 1;
                assert!(
                    refused_for_no_key,
                    "{method} {path} answered {} without a key",
                    answer.status
                );
            } else {
                assert!(
                    !refused_for_no_key,
                    "{method} {path} is documented public but wants a key"
                );
            }
        }
    }
    assert!(secured > 40, "{secured} operations need a key");
}

#[tokio::test]
async fn a_known_key_is_asked_about_once_then_served_from_the_cache() {
    let gw = TestGateway::start().await;
    let me = gw.agent_token.add_key("acct_a", "bootstrap");
    for _ in 0..3 {
        assert_eq!(gw.get("/v1/api-keys", &me.secret).await.status, 200);
    }
    assert_eq!(gw.agent_token.authentications.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn with_a_zero_ttl_every_request_asks_agent_token() {
    let config = GatewayConfig {
        key_cache_ttl_secs: 0,
        ..GatewayConfig::default()
    };
    let gw = TestGateway::with_config(config).await;
    let me = gw.agent_token.add_key("acct_a", "bootstrap");
    for _ in 0..3 {
        assert_eq!(gw.get("/v1/api-keys", &me.secret).await.status, 200);
    }
    assert_eq!(gw.agent_token.authentications.load(Ordering::SeqCst), 3);
}

/// The deletion event another gateway's DELETE would cause, as agent-token publishes it.
fn deletion_event(key: &StoredKey) -> Envelope {
    let deleted = ApiKeyDeleted {
        key_id: key.id.clone(),
        secret_hash: hex::encode(Sha256::digest(key.secret.as_bytes())),
    };
    Envelope::new("/latchkey/agent-token", &key.account_id, Some(&key.id), &deleted)
}

/// A key deleted elsewhere keeps working from the cache until its event arrives, then stops long
/// before the cache would have let it go (60 s): the event, not the expiry, ends it. How soon is a
/// benchmark's question, not this test's.
async fn a_key_deleted_elsewhere_stops_when_its_event_arrives(gw: TestGateway) {
    let key = gw.agent_token.add_key("acct_a", "doomed");
    assert_eq!(gw.get("/v1/api-keys", &key.secret).await.status, 200);
    gw.agent_token.remove_silently(&key.id);
    // Still served: the cache is what this test exercises.
    assert_eq!(gw.get("/v1/api-keys", &key.secret).await.status, 200);

    gw.bus
        .publish(&[deletion_event(&key)])
        .await
        .expect("publish the deletion");
    let answer = read_until(
        EVENT_DEADLINE,
        || gw.get("/v1/api-keys", &key.secret),
        |answer| answer.status == 401,
    )
    .await;
    answer.assert_problem(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_deletion_event_on_the_in_process_bus_drops_the_key() {
    a_key_deleted_elsewhere_stops_when_its_event_arrives(TestGateway::start().await).await;
}

#[tokio::test]
async fn a_deletion_event_on_jetstream_drops_the_key() {
    let bus = TestBus::new(BusKind::Nats).await.bus;
    let gw = TestGateway::build(GatewayConfig::default(), Vec::new(), Some(bus)).await;
    a_key_deleted_elsewhere_stops_when_its_event_arrives(gw).await;
}
