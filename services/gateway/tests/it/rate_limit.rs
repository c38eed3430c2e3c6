//! The per-key rate limit.

use axum::body::Body;
use http::Method;
use latchkey_gateway::GatewayConfig;

use crate::harness::TestGateway;

#[tokio::test]
async fn the_request_after_the_burst_answers_429_with_retry_after() {
    let config = GatewayConfig {
        rate_limit_per_second: 1,
        rate_limit_burst: 3,
        ..GatewayConfig::default()
    };
    let gw = TestGateway::with_config(config).await;
    let me = gw.agent_token.add_key("acct_a", "bootstrap");
    let other = gw.agent_token.add_key("acct_a", "other");

    for _ in 0..3 {
        assert_eq!(gw.get("/v1/api-keys", &me.secret).await.status, 200);
    }
    let refused = gw.get("/v1/api-keys", &me.secret).await;
    refused.assert_problem(429, "RATE_LIMITED");
    let retry_after: u64 = refused
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in whole seconds");
    assert!(retry_after >= 1);

    // Another key of the same account has its own allowance; unauthenticated routes have none.
    assert_eq!(gw.get("/v1/api-keys", &other.secret).await.status, 200);
    for _ in 0..5 {
        assert_eq!(gw.send(Method::GET, "/healthz", &[], Body::empty()).await.status, 200);
    }
}
