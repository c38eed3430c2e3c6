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

#[tokio::test]
async fn replicas_sharing_a_limit_together_allow_no_more_than_it() {
    // Two gateway replicas of a deployment whose limit is a burst of 6 per key.
    let config = GatewayConfig {
        rate_limit_per_second: 1,
        rate_limit_burst: 6,
        rate_limit_replicas: 2,
        ..GatewayConfig::default()
    };
    let replicas = [
        TestGateway::with_config(config.clone()).await,
        TestGateway::with_config(config).await,
    ];
    let keys: Vec<_> = replicas
        .iter()
        .map(|gw| gw.agent_token.add_key("acct_a", "bootstrap").secret)
        .collect();
    let mut allowed = 0;
    for round in 0..20 {
        let replica = round % 2;
        let answer = replicas[replica].get("/v1/api-keys", &keys[replica]).await;
        if answer.status == 200 {
            allowed += 1;
        } else {
            answer.assert_problem(429, "RATE_LIMITED");
        }
    }
    assert_eq!(allowed, 6, "each replica allows its half of the burst");
}
