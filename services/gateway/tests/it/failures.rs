//! When a service fails: the caller gets the documented code and the request id, never the
//! internal detail.

use std::time::{Duration, Instant};

use crate::harness::TestGateway;

#[tokio::test]
async fn an_internal_failure_answers_500_without_its_detail() {
    let gw = TestGateway::start().await;
    let me = gw.agent_token.add_key("acct_a", "bootstrap");
    let answer = gw.post_json("/v1/api-keys", &me.secret, r#"{"name": "explode"}"#).await;
    let problem = answer.assert_problem(500, "INTERNAL_ERROR");
    let body = String::from_utf8_lossy(&answer.body);
    assert!(!body.contains("10.0.0.3") && !body.contains("refused"), "{problem}");
}

#[tokio::test]
async fn a_service_that_is_down_answers_503() {
    let mut gw = TestGateway::start().await;
    let cached = gw.agent_token.add_key("acct_a", "cached");
    let uncached = gw.agent_token.add_key("acct_a", "uncached");
    assert_eq!(gw.get("/v1/api-keys", &cached.secret).await.status, 200);
    gw.stop_services();

    // The stopped server closes its connections on its own schedule: poll until calls fail.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = gw.get("/v1/api-keys", &cached.secret).await;
        if answer.status == 503 {
            answer.assert_problem(503, "SERVICE_UNAVAILABLE");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {} after the services stopped",
            answer.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Authentication itself needs agent-token: an uncached key cannot be checked, which is 503,
    // not a misleading 401.
    gw.get("/v1/api-keys", &uncached.secret)
        .await
        .assert_problem(503, "SERVICE_UNAVAILABLE");
}
