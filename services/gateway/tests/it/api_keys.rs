//! POST/GET/DELETE /v1/api-keys: shapes and account scoping.

use axum::body::Body;
use http::Method;

use crate::harness::TestGateway;

fn is_rfc3339(value: &serde_json::Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

#[tokio::test]
async fn creating_a_key_answers_201_with_the_secret_once() {
    let gw = TestGateway::start().await;
    let me = gw.agent_token.add_key("acct_a", "bootstrap");

    let created = gw.post_json("/v1/api-keys", &me.secret, r#"{"name": "ci"}"#).await;
    assert_eq!(created.status, 201, "{}", String::from_utf8_lossy(&created.body));
    assert_eq!(created.header("content-type"), Some("application/json"));
    let body = created.json();
    let key = body["key"].as_str().expect("the full key");
    assert!(body["id"].as_str().is_some_and(|id| id.starts_with("key_")));
    assert_eq!(body["name"], "ci");
    assert!(key.starts_with("lk_live_"));
    assert_eq!(body["prefix"], "lk_live_");
    assert_eq!(body["last4"], &key[key.len() - 4..]);
    assert!(is_rfc3339(&body["created_at"]), "{body}");
    assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(6),
        "exactly the documented fields: {body}"
    );

    // The new key works at once.
    assert_eq!(gw.get("/v1/api-keys", key).await.status, 200);
}

#[tokio::test]
async fn a_key_without_a_body_or_name_is_called_default() {
    let gw = TestGateway::start().await;
    let me = gw.agent_token.add_key("acct_a", "bootstrap");
    let bearer = format!("Bearer {}", me.secret);

    let no_body = gw
        .send(
            Method::POST,
            "/v1/api-keys",
            &[("authorization", &bearer)],
            Body::empty(),
        )
        .await;
    assert_eq!(no_body.status, 201);
    assert_eq!(no_body.json()["name"], "default");

    for body in ["{}", "null", r#"{"name": null}"#] {
        let created = gw.post_json("/v1/api-keys", &me.secret, body).await;
        assert_eq!(created.json()["name"], "default", "{body}");
    }
}

#[tokio::test]
async fn names_outside_1_to_100_characters_are_refused() {
    let gw = TestGateway::start().await;
    let me = gw.agent_token.add_key("acct_a", "bootstrap");

    for name in [String::new(), "   ".to_owned(), "x".repeat(101)] {
        let body = serde_json::json!({ "name": name }).to_string();
        let refused = gw.post_json("/v1/api-keys", &me.secret, &body).await;
        refused.assert_problem(400, "VALIDATION_ERROR");
        assert_eq!(refused.first_error_field(), "name");
    }
    // 100 characters, multi-byte ones included, is fine.
    let body = serde_json::json!({ "name": "é".repeat(100) }).to_string();
    assert_eq!(gw.post_json("/v1/api-keys", &me.secret, &body).await.status, 201);
    // Only the bootstrap key and the last one exist: nothing was written for the refused names.
    assert_eq!(gw.agent_token.keys.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn listing_masks_every_key() {
    let gw = TestGateway::start().await;
    let me = gw.agent_token.add_key("acct_a", "bootstrap");
    gw.post_json("/v1/api-keys", &me.secret, r#"{"name": "second"}"#).await;

    let listed = gw.get("/v1/api-keys", &me.secret).await;
    assert_eq!(listed.status, 200);
    let body = listed.json();
    let data = body["data"].as_array().expect("data array");
    assert_eq!(data.len(), 2);
    for key in data {
        let last4 = key["last4"].as_str().expect("last4");
        assert_eq!(key["masked_key"], format!("lk_live_…{last4}"));
        assert!(key.get("key").is_none(), "never the secret: {key}");
        assert!(is_rfc3339(&key["created_at"]));
        assert!(key["id"].is_string() && key["name"].is_string() && key["prefix"] == "lk_live_");
    }
    assert!(!listed.body.windows(me.secret.len()).any(|w| w == me.secret.as_bytes()));
    // The bootstrap key has authenticated requests; the new one never has.
    let used = data
        .iter()
        .find(|k| k["name"] == "bootstrap")
        .expect("bootstrap key listed");
    assert!(is_rfc3339(&used["last_used_at"]));
    let unused = data.iter().find(|k| k["name"] == "second").expect("second key listed");
    assert!(unused["last_used_at"].is_null());
}

#[tokio::test]
async fn a_deleted_key_stops_working_on_this_gateway_at_once() {
    let gw = TestGateway::start().await;
    let me = gw.agent_token.add_key("acct_a", "bootstrap");
    let doomed = gw.agent_token.add_key("acct_a", "doomed");
    // Cached now.
    assert_eq!(gw.get("/v1/api-keys", &doomed.secret).await.status, 200);

    let deleted = gw.delete(&format!("/v1/api-keys/{}", doomed.id), &me.secret).await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.body.is_empty());

    gw.get("/v1/api-keys", &doomed.secret)
        .await
        .assert_problem(401, "UNAUTHORIZED");
    // A key can delete itself, too.
    assert_eq!(
        gw.delete(&format!("/v1/api-keys/{}", me.id), &me.secret).await.status,
        204
    );
    gw.get("/v1/api-keys", &me.secret)
        .await
        .assert_problem(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn unknown_and_foreign_keys_cannot_be_deleted() {
    let gw = TestGateway::start().await;
    let mine = gw.agent_token.add_key("acct_a", "mine");
    let theirs = gw.agent_token.add_key("acct_b", "theirs");

    gw.delete("/v1/api-keys/key_nope", &mine.secret)
        .await
        .assert_problem(404, "NOT_FOUND");
    gw.delete(&format!("/v1/api-keys/{}", theirs.id), &mine.secret)
        .await
        .assert_problem(404, "NOT_FOUND");
    // Theirs still works, and my listing never shows it.
    assert_eq!(gw.get("/v1/api-keys", &theirs.secret).await.status, 200);
    let listed = gw.get("/v1/api-keys", &mine.secret).await.json();
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1));
}
