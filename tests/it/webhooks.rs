//! Webhooks end to end, as a customer uses them: register an endpoint over REST, receive every
//! subscribed event signed, verify it with an independent Standard Webhooks library, follow the
//! attempts, test, rotate, delete, enable an endpoint a receiver had disabled; bad input refused
//! naming the field; another account sees and touches nothing. SQLite with the in-process bus, PostgreSQL with NATS.

pub(crate) mod peer;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Bus, TestMesh};
use latchkey_storage::Backend;
use latchkey_test_support::captured;
use peer::VerifyingReceiver;

async fn call(t: &TestMesh, method: Method, path: &str, key: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = t.as_key(method, path, key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn create_agent(t: &TestMesh, key: &str, name: &str) -> String {
    let (status, agent) = call(
        t,
        Method::POST,
        "/v1/agents",
        key,
        Some(json!({"name": name, "owner": "ops"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    agent["id"].as_str().unwrap().to_owned()
}

async fn delivered_signed_and_verified_independently(backend: Backend, bus: Bus) {
    let t = TestMesh::start(backend, bus).await;
    let receiver = VerifyingReceiver::start().await;
    let key = t.key.clone();

    let (status, created) = call(
        &t,
        Method::POST,
        "/v1/webhooks",
        &key,
        Some(json!({"url": receiver.url, "events": ["agent.*"], "description": "ops alerts"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(created["events"], json!(["agent.*"]));
    assert_eq!(created["status"], "active");

    // The secret is shown once: never in a read or a listing.
    let (_, listed) = call(&t, Method::GET, "/v1/webhooks", &key, None).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&secret));
    let (status, fetched) = call(&t, Method::GET, &format!("/v1/webhooks/{id}"), &key, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(fetched.get("secret").is_none());

    receiver.verify_with(&[("current", &secret)]).await;
    let agent_id = create_agent(&t, &key, "reporter").await;
    let received = receiver.wait_for(1).await;
    assert_eq!(
        received[0]["verified"]["current"], true,
        "standardwebhooks accepts the delivery"
    );
    let body: Value = serde_json::from_str(received[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["type"], "agent.created");
    assert_eq!(body["data"]["agent_id"], agent_id);

    // The attempt is recorded.
    let mut deliveries = Value::Null;
    for _ in 0..500 {
        deliveries = call(&t, Method::GET, &format!("/v1/webhooks/{id}/deliveries"), &key, None)
            .await
            .1;
        if deliveries["data"].as_array().is_some_and(|d| !d.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let attempt = &deliveries["data"][0];
    assert_eq!(attempt["status_code"], 204);
    assert_eq!(attempt["outcome"], "succeeded");
    assert_eq!(attempt["message_id"], received[0]["id"]);
    assert_eq!(attempt["event_type"], "agent.created");

    // A test event, whatever the subscription.
    let (status, test) = call(&t, Method::POST, &format!("/v1/webhooks/{id}/test"), &key, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{test}");
    let received = receiver.wait_for(2).await;
    assert_eq!(received[1]["id"], test["id"]);
    assert_eq!(received[1]["verified"]["current"], true);

    // Rotation: during the overlap both secrets verify the same delivery.
    let (status, rotated) = call(
        &t,
        Method::POST,
        &format!("/v1/webhooks/{id}/rotate-secret"),
        &key,
        Some(json!({"overlap_seconds": 600})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert!(rotated["previous_secret_expires_at"].is_string());
    receiver.verify_with(&[("old", &secret), ("new", &new_secret)]).await;
    create_agent(&t, &key, "second").await;
    let received = receiver.wait_for(3).await;
    assert_eq!(received[2]["verified"], json!({"old": true, "new": true}));

    // A message sent again by API keeps its webhook-id and body; a replay sends the range again.
    let first = received[0]["id"].as_str().unwrap().to_owned();
    let (status, retried) = call(
        &t,
        Method::POST,
        &format!("/v1/webhooks/{id}/deliveries/{first}/retry"),
        &key,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{retried}");
    assert_eq!(retried["id"], first.as_str());
    let received = receiver.wait_for(4).await;
    assert_eq!(received[3]["id"], first.as_str());
    assert_eq!(received[3]["body"], received[0]["body"]);
    assert_eq!(received[3]["verified"]["new"], true);
    let (status, replayed) = call(
        &t,
        Method::POST,
        &format!("/v1/webhooks/{id}/replay"),
        &key,
        Some(json!({"since": "2020-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{replayed}");
    assert_eq!(replayed["queued"], 3, "two agent events and the test message");
    receiver.wait_for(7).await;
    let (status, problem) = call(
        &t,
        Method::POST,
        &format!("/v1/webhooks/{id}/deliveries/msg_unknown/retry"),
        &key,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");

    let (status, _) = call(&t, Method::DELETE, &format!("/v1/webhooks/{id}"), &key, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, problem) = call(&t, Method::GET, &format!("/v1/webhooks/{id}"), &key, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["code"], "NOT_FOUND");
    t.mesh.stop().await;
}

#[tokio::test]
async fn an_event_is_delivered_signed_and_an_independent_verifier_accepts_it_sqlite() {
    delivered_signed_and_verified_independently(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn an_event_is_delivered_signed_and_an_independent_verifier_accepts_it_postgres_nats() {
    delivered_signed_and_verified_independently(Backend::Postgres, Bus::Nats).await;
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_writes_nothing() {
    let t = TestMesh::start(Backend::Sqlite, Bus::Local).await;
    let key = t.key.clone();
    for (body, field) in [
        (
            json!({"url": "https://hooks.example.com/in", "events": ["tokn.issued"]}),
            "events[0]",
        ),
        (json!({"url": "https://hooks.example.com/in", "events": []}), "events"),
        (json!({"url": "ftp://hooks.example.com/in", "events": ["*"]}), "url"),
        (
            json!({"url": "http://169.254.169.254/latest/meta-data", "events": ["*"]}),
            "url",
        ),
        (
            json!({"url": "https://user:pw@hooks.example.com/", "events": ["*"]}),
            "url",
        ),
        (json!({"events": ["*"]}), "url"),
    ] {
        let (status, problem) = call(&t, Method::POST, "/v1/webhooks", &key, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(problem["code"], "VALIDATION_ERROR");
        assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
    }
    let (_, listed) = call(&t, Method::GET, "/v1/webhooks", &key, None).await;
    assert_eq!(listed["data"], json!([]));
    t.mesh.stop().await;
}

async fn isolation(backend: Backend, bus: Bus) {
    let t = TestMesh::start(backend, bus).await;
    let receiver = VerifyingReceiver::start().await;
    let key = t.key.clone();
    let (_, other_key) = t.mesh.create_account("Second account").await.unwrap();
    let (_, created) = call(
        &t,
        Method::POST,
        "/v1/webhooks",
        &key,
        Some(json!({"url": receiver.url, "events": ["agent.created"]})),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    receiver
        .verify_with(&[("current", created["secret"].as_str().unwrap())])
        .await;

    // The other account's events never reach this account's endpoint.
    create_agent(&t, &other_key, "theirs").await;
    let ours = create_agent(&t, &key, "ours").await;
    let received = receiver.wait_for(1).await;
    let body: Value = serde_json::from_str(received[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["data"]["agent_id"], ours, "the first delivery is our own event");

    let (_, listed) = call(&t, Method::GET, "/v1/webhooks", &other_key, None).await;
    assert_eq!(listed["data"], json!([]));
    let message = received[0]["id"].as_str().unwrap();
    for (method, path, body) in [
        (Method::GET, format!("/v1/webhooks/{id}"), None),
        (Method::GET, format!("/v1/webhooks/{id}/deliveries"), None),
        (
            Method::POST,
            format!("/v1/webhooks/{id}/deliveries/{message}/retry"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/webhooks/{id}/replay"),
            Some(json!({"since": "2020-01-01T00:00:00Z"})),
        ),
        (Method::POST, format!("/v1/webhooks/{id}/test"), None),
        (Method::POST, format!("/v1/webhooks/{id}/enable"), None),
        (
            Method::POST,
            format!("/v1/webhooks/{id}/rotate-secret"),
            Some(json!({})),
        ),
        (Method::DELETE, format!("/v1/webhooks/{id}"), None),
    ] {
        let (status, problem) = call(&t, method.clone(), &path, &other_key, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {problem}");
    }
    let (status, still) = call(&t, Method::GET, &format!("/v1/webhooks/{id}"), &key, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(still["status"], "active");
    assert_eq!(
        receiver.received().await.len(),
        1,
        "nothing was sent for the other account"
    );
    t.mesh.stop().await;
}

#[tokio::test]
async fn another_accounts_endpoints_and_deliveries_are_invisible_and_untouchable_sqlite() {
    isolation(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn another_accounts_endpoints_and_deliveries_are_invisible_and_untouchable_postgres_nats() {
    isolation(Backend::Postgres, Bus::Nats).await;
}

#[tokio::test]
async fn signing_secrets_are_sealed_in_the_vault_and_never_reach_the_logs_or_traces() {
    captured::install();
    let t = TestMesh::start(Backend::Sqlite, Bus::Local).await;
    let receiver = VerifyingReceiver::start().await;
    let key = t.key.clone();
    let (_, created) = call(
        &t,
        Method::POST,
        "/v1/webhooks",
        &key,
        Some(json!({"url": receiver.url, "events": ["agent.created"]})),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let first = created["secret"].as_str().unwrap().to_owned();
    receiver.verify_with(&[("first", &first)]).await;
    create_agent(&t, &key, "logged").await;
    receiver.wait_for(1).await;
    let (_, rotated) = call(
        &t,
        Method::POST,
        &format!("/v1/webhooks/{id}/rotate-secret"),
        &key,
        Some(json!({})),
    )
    .await;
    let second = rotated["secret"].as_str().unwrap().to_owned();
    create_agent(&t, &key, "logged again").await;
    receiver.wait_for(2).await;

    // Sealed in the vault: the webhook service's own table holds no secret, only the vault version.
    let url = t.mesh.context.database.url_for(latchkey::cli::Service::Webhook);
    let db = latchkey_storage::Db::connect(&url).await.unwrap();
    let (stored, previous, version): (String, Option<String>, i64) =
        sqlx::query_as("SELECT secret, previous_secret, secret_version FROM webhook_endpoints WHERE id = $1")
            .bind(&id)
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!((stored.as_str(), previous), ("", None));
    assert_eq!(version, 2, "sealed at creation, sealed again at the rotation");

    for secret in [&first, &second] {
        captured::assert_not_captured("signing secret", secret.strip_prefix("whsec_").unwrap());
    }
    t.mesh.stop().await;
}

/// A receiver that answers every delivery with the status it is set to, counting them.
struct StatusReceiver {
    url: String,
    status: std::sync::Arc<std::sync::atomic::AtomicU16>,
    received: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl StatusReceiver {
    async fn start(status: u16) -> Self {
        use std::sync::{
            Arc,
            atomic::{AtomicU16, AtomicUsize, Ordering},
        };
        let status = Arc::new(AtomicU16::new(status));
        let received = Arc::new(AtomicUsize::new(0));
        let answer = {
            let (status, received) = (status.clone(), received.clone());
            move || {
                let (status, received) = (status.clone(), received.clone());
                async move {
                    received.fetch_add(1, Ordering::SeqCst);
                    axum::http::StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap()
                }
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let router = axum::Router::new().fallback(axum::routing::post(answer));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, status, received }
    }

    fn answer(&self, status: u16) {
        self.status.store(status, std::sync::atomic::Ordering::SeqCst);
    }

    fn received(&self) -> usize {
        self.received.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[tokio::test]
async fn an_endpoint_a_receiver_disabled_with_410_is_enabled_again_over_rest() {
    let t = TestMesh::start(Backend::Sqlite, Bus::Local).await;
    let key = t.key.clone();
    let receiver = StatusReceiver::start(410).await;
    let (_, created) = call(
        &t,
        Method::POST,
        "/v1/webhooks",
        &key,
        Some(json!({"url": receiver.url, "events": ["agent.created"]})),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/webhooks/{id}");

    create_agent(&t, &key, "first").await;
    let disabled = latchkey_test_support::eventually(std::time::Duration::from_secs(30), || async {
        call(&t, Method::GET, &path, &key, None).await.1["status"] == "disabled"
    })
    .await;
    assert!(disabled, "410 disables the endpoint");
    let (_, endpoint) = call(&t, Method::GET, &path, &key, None).await;
    assert_eq!(endpoint["disabled_reason"], "gone");

    receiver.answer(204);
    let (status, enabled) = call(&t, Method::POST, &format!("{path}/enable"), &key, None).await;
    assert_eq!(status, StatusCode::OK, "{enabled}");
    assert_eq!(enabled["status"], "active");
    assert_eq!(enabled["disabled_reason"], Value::Null);
    assert_eq!(enabled["failing_since"], Value::Null);
    let (status, again) = call(&t, Method::POST, &format!("{path}/enable"), &key, None).await;
    assert_eq!(status, StatusCode::OK, "enabling an active endpoint is a no-op");
    assert_eq!(again, enabled);

    // New events reach it again; the one that got the 410 is not resent by enabling.
    create_agent(&t, &key, "second").await;
    let delivered = latchkey_test_support::eventually(std::time::Duration::from_secs(30), || async {
        let (_, page) = call(&t, Method::GET, &format!("{path}/deliveries"), &key, None).await;
        page["data"]
            .as_array()
            .is_some_and(|attempts| attempts.iter().any(|attempt| attempt["status_code"] == 204))
    })
    .await;
    assert!(delivered, "the new event is delivered");
    assert_eq!(receiver.received(), 2, "one 410, one delivery: nothing resent");

    // The audit log records who enabled it and why it had been disabled.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let entries = loop {
        let entries = t.audit_entries(&key).await;
        if entries.iter().any(|e| e["type"] == "endpoint.enabled") {
            break entries;
        }
        assert!(
            std::time::Instant::now() < until,
            "endpoint.enabled never reached the audit log"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let enabled_entries: Vec<&Value> = entries.iter().filter(|e| e["type"] == "endpoint.enabled").collect();
    assert_eq!(enabled_entries.len(), 1);
    assert_eq!(enabled_entries[0]["subject"], id);
    assert_eq!(enabled_entries[0]["data"]["previous_reason"], "gone");
    let registered = entries
        .iter()
        .find(|e| e["type"] == "endpoint.created")
        .expect("endpoint.created");
    assert_eq!(
        enabled_entries[0]["actor"], registered["actor"],
        "the same API key did both"
    );
    t.mesh.stop().await;
}
