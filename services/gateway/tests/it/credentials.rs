//! `/credentials` at the edge, against the fake vault: the masked summary in AGNT's shape, a bad
//! write that reaches the vault not at all, and another account's keys out of sight.

use axum::body::Body;
use http::Method;

use crate::harness::TestGateway;

async fn put(gw: &TestGateway, secret: &str, json: &str) -> crate::harness::TestResponse {
    let bearer = format!("Bearer {secret}");
    gw.send(
        Method::PUT,
        "/credentials",
        &[("authorization", bearer.as_str()), ("content-type", "application/json")],
        Body::from(json.to_owned()),
    )
    .await
}

#[tokio::test]
async fn keys_written_come_back_only_as_a_masked_summary() {
    let gw = TestGateway::start().await;
    let me = gw.agent_token.add_key("acct_a", "bootstrap");
    let written = put(
        &gw,
        &me.secret,
        r#"{"openaiApiKey": "sk-gateway-test-key-Qw12", "writeOnly": true}"#,
    )
    .await;
    assert_eq!(written.status, 200);
    let body = written.json();
    assert_eq!(body["hasOpenaiApiKey"], true);
    assert_eq!(body["openaiApiKeyLast4"], "Qw12");
    assert!(body["updatedAt"].is_string());
    let write_only = gw.vault.secrets.lock().unwrap()[&("acct_a".to_owned(), "credential/openai".to_owned())]
        .1
        .write_only;
    assert!(write_only, "writeOnly reaches the vault");

    let summary = gw.get("/credentials", &me.secret).await.json();
    assert_eq!(summary["hasOpenaiApiKey"], true);
    assert_eq!(summary["openaiApiKeyLast4"], "Qw12");
    assert_eq!(summary["hasAnthropicApiKey"], false);
    assert!(summary["anthropicApiKeyLast4"].is_null());
    assert!(!summary.to_string().contains("sk-gateway"));

    let other = gw.agent_token.add_key("acct_b", "bootstrap");
    assert_eq!(
        gw.get("/credentials", &other.secret).await.json()["hasOpenaiApiKey"],
        false
    );
}

#[tokio::test]
async fn a_bad_write_never_reaches_the_vault() {
    let gw = TestGateway::start().await;
    let me = gw.agent_token.add_key("acct_a", "bootstrap");
    for (json, field) in [
        (
            r#"{"openaiApiKey": "sk-fine-key-1234", "opneaiApiKey": "typo"}"#,
            "opneaiApiKey",
        ),
        (r#"{"openaiApiKey": ["sk"]}"#, "openaiApiKey"),
        (r#"{"openaiApiKey": ""}"#, "openaiApiKey"),
        (r#"{}"#, "body"),
        (r#"{"openaiApiKey": "#, "body"),
    ] {
        let answer = put(&gw, &me.secret, json).await;
        answer.assert_problem(400, "VALIDATION_ERROR");
        assert_eq!(answer.first_error_field(), field, "{json}");
    }
    assert_eq!(gw.vault.writes.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(
        put(&gw, "not-a-key", r#"{"openaiApiKey": "sk-x-123456789"}"#)
            .await
            .status,
        401
    );
}
