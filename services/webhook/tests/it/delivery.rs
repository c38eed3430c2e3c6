//! Deliveries as a receiver sees them: signed, retried with the same id and body, recorded, and
//! what the receiver's answers do to its endpoint.

use std::time::Duration;

use latchkey_ids::MessageId;
use latchkey_storage::Backend;
use latchkey_test_support::eventually;
use latchkey_webhook::{EndpointInput, WebhookConfig, WebhookError};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::support::{Receiver, Reply, World, account, fast_config, verify};

const WAIT: Duration = Duration::from_secs(30);

fn subscribe(url: &str, events: &[&str]) -> EndpointInput {
    EndpointInput {
        url: url.to_owned(),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        description: Some("test receiver".to_owned()),
    }
}

async fn retried_until_the_receiver_answers(backend: Backend) {
    let world = World::new(backend, fast_config()).await;
    let _service = world.start_service();
    let receiver = Receiver::start().await;
    receiver.script([
        Reply::status(503),
        Reply::status(500),
        Reply {
            status: 429,
            headers: vec![("retry-after", "0".to_owned())],
            body: "slow down".to_owned(),
        },
    ]);
    let created = world
        .api
        .create_endpoint(&account("acct_a"), None, subscribe(&receiver.url(), &["token.*"]))
        .await
        .unwrap();
    world.publish_tokens("acct_a", 1).await;

    assert!(eventually(WAIT, || async { receiver.received().iter().any(|r| r.status == 200) }).await);
    let received = receiver.received();
    assert_eq!(received.len(), 4, "three failures, then the delivery");
    for delivery in &received {
        assert_eq!(delivery.id, received[0].id, "the same webhook-id on every retry");
        assert_eq!(delivery.body, received[0].body, "the same body on every retry");
        assert!(
            verify(&created.secret, delivery),
            "every attempt is signed with the endpoint's secret"
        );
    }
    let body: Value = serde_json::from_str(&received[0].body).unwrap();
    assert_eq!(body["type"], "token.issued");
    assert_eq!(body["data"]["decision_id"], "dec_0");
    assert_eq!(body["data"]["agent_id"], "agt_test");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));

    let attempts = world
        .attempts_once(&account("acct_a"), &created.endpoint.id, WAIT, |attempts| {
            attempts.first().is_some_and(|a| a.status_code == 200)
        })
        .await;
    let codes: Vec<u16> = attempts.iter().map(|a| a.status_code).collect();
    assert_eq!(codes, [200, 429, 500, 503], "newest first");
    assert_eq!(attempts[0].outcome, "succeeded");
    assert_eq!(attempts[0].message_status, "delivered");
    assert_eq!(attempts[1].response_snippet, "slow down");
    assert_eq!(attempts[0].message_id.as_str(), received[0].id);

    // Pages follow the cursor.
    let first = world
        .api
        .list_attempts(&account("acct_a"), &created.endpoint.id, 3, None)
        .await
        .unwrap();
    assert_eq!(first.attempts.len(), 3);
    let cursor = first.next_before.expect("a next page");
    let second = world
        .api
        .list_attempts(&account("acct_a"), &created.endpoint.id, 3, Some(cursor.as_str()))
        .await
        .unwrap();
    assert_eq!(second.attempts.len(), 1);
    assert_eq!(second.attempts[0].status_code, 503);
    assert_eq!(second.next_before, None);
}

#[tokio::test]
async fn a_delivery_is_signed_and_retried_until_the_receiver_answers_sqlite() {
    retried_until_the_receiver_answers(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_delivery_is_signed_and_retried_until_the_receiver_answers_postgres() {
    retried_until_the_receiver_answers(Backend::Postgres).await;
}

async fn receiver_down_then_up(backend: Backend) {
    let world = World::new(backend, fast_config()).await;
    let _service = world.start_service();
    let receiver = Receiver::start().await;
    let created = world
        .api
        .create_endpoint(&account("acct_a"), None, subscribe(&receiver.url(), &["token.*"]))
        .await
        .unwrap();
    receiver.go_down().await;
    world.publish_tokens("acct_a", 3).await;

    // Connection errors are recorded and retried.
    let attempts = world
        .attempts_once(&account("acct_a"), &created.endpoint.id, WAIT, |attempts| {
            attempts.len() >= 6
        })
        .await;
    assert!(
        attempts.len() >= 6,
        "failed attempts are recorded while the receiver is down"
    );
    assert!(
        attempts
            .iter()
            .all(|a| a.error.starts_with("connection") && a.status_code == 0)
    );

    let receiver = receiver.come_back().await;
    assert!(eventually(WAIT, || async { receiver.received().len() >= 3 }).await);
    let mut ids: Vec<String> = receiver.received().iter().map(|r| r.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "every event delivered once the receiver is back");
    assert!(receiver.received().iter().all(|r| verify(&created.secret, r)));
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_its_events_when_it_is_back_sqlite() {
    receiver_down_then_up(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_its_events_when_it_is_back_postgres() {
    receiver_down_then_up(Backend::Postgres).await;
}

#[tokio::test]
async fn gone_disables_the_endpoint_at_once() {
    let world = World::new(Backend::Sqlite, fast_config()).await;
    let _service = world.start_service();
    let gone = Receiver::start().await;
    gone.otherwise(Reply::status(410));
    let control = Receiver::start().await;
    let gone_endpoint = world
        .api
        .create_endpoint(&account("acct_a"), None, subscribe(&gone.url(), &["token.issued"]))
        .await
        .unwrap();
    world.publish_tokens("acct_a", 1).await;

    let mut disabled = None;
    for _ in 0..1500 {
        let endpoint = world
            .api
            .get_endpoint(&account("acct_a"), &gone_endpoint.endpoint.id)
            .await
            .unwrap();
        if endpoint.status == "disabled" {
            disabled = Some(endpoint);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let disabled = disabled.expect("410 disables the endpoint");
    assert_eq!(disabled.disabled_reason, "gone");
    assert_eq!(gone.received().len(), 1, "410 is never retried");

    // Later events reach other endpoints, not the disabled one.
    world
        .api
        .create_endpoint(&account("acct_a"), None, subscribe(&control.url(), &["token.issued"]))
        .await
        .unwrap();
    world.publish_tokens("acct_a", 1).await;
    assert!(eventually(WAIT, || async { control.received().len() == 1 }).await);
    assert_eq!(gone.received().len(), 1);

    let announced = world.emitted("endpoint.disabled").await;
    assert_eq!(announced.len(), 1);
    assert_eq!(announced[0].data["endpoint_id"], gone_endpoint.endpoint.id.as_str());
    assert_eq!(announced[0].data["reason"], "gone");
    assert_eq!(announced[0].account, "acct_a");

    // A disabled endpoint takes no retries or tests.
    let refused = world
        .api
        .send_test(&account("acct_a"), &gone_endpoint.endpoint.id)
        .await;
    assert!(matches!(refused, Err(WebhookError::Unprocessable(_))));
}

#[tokio::test]
async fn an_endpoint_failing_for_too_long_is_announced_then_disabled() {
    let config = WebhookConfig {
        failing_warn_after_secs: 0,
        disable_after_secs: 1,
        ..fast_config()
    };
    let world = World::new(Backend::Sqlite, config).await;
    let _service = world.start_service();
    let receiver = Receiver::start().await;
    receiver.otherwise(Reply::status(500));
    let created = world
        .api
        .create_endpoint(&account("acct_a"), None, subscribe(&receiver.url(), &["*"]))
        .await
        .unwrap();
    world.publish_tokens("acct_a", 1).await;

    let mut status = String::new();
    for _ in 0..1500 {
        let endpoint = world
            .api
            .get_endpoint(&account("acct_a"), &created.endpoint.id)
            .await
            .unwrap();
        if endpoint.status == "disabled" {
            status = endpoint.disabled_reason;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, "failing");
    let failing = world.emitted("endpoint.failing").await;
    assert_eq!(failing.len(), 1, "announced once before being disabled");
    let disabled = world.emitted("endpoint.disabled").await;
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0].data["reason"], "failing");
    assert!(failing[0].time <= disabled[0].time);
}

#[tokio::test]
async fn an_endpoint_that_heals_is_announced_recovered() {
    let config = WebhookConfig {
        failing_warn_after_secs: 0,
        ..fast_config()
    };
    let world = World::new(Backend::Sqlite, config).await;
    let _service = world.start_service();
    let receiver = Receiver::start().await;
    receiver.script([Reply::status(502), Reply::status(502)]);
    world
        .api
        .create_endpoint(&account("acct_a"), None, subscribe(&receiver.url(), &["token.*"]))
        .await
        .unwrap();
    world.publish_tokens("acct_a", 1).await;
    assert!(eventually(WAIT, || async { receiver.received().iter().any(|r| r.status == 200) }).await);
    let mut recovered = Vec::new();
    for _ in 0..250 {
        recovered = world.emitted("endpoint.recovered").await;
        if !recovered.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(recovered.len(), 1);
    assert_eq!(world.emitted("endpoint.failing").await.len(), 1);
}

#[tokio::test]
async fn during_a_rotation_both_secrets_sign_and_after_it_only_the_new_one() {
    let world = World::new(Backend::Sqlite, fast_config()).await;
    let _service = world.start_service();
    let receiver = Receiver::start().await;
    let created = world
        .api
        .create_endpoint(&account("acct_a"), None, subscribe(&receiver.url(), &["token.issued"]))
        .await
        .unwrap();
    let rotated = world
        .api
        .rotate_secret(&account("acct_a"), None, &created.endpoint.id, Some(3600))
        .await
        .unwrap();
    assert_ne!(rotated.secret, created.secret);
    assert!(rotated.endpoint.previous_secret_expires_at_ms > 0);
    world.publish_tokens("acct_a", 1).await;
    assert!(eventually(WAIT, || async { receiver.received().len() == 1 }).await);
    let first = &receiver.received()[0];
    assert_eq!(first.signature.split(' ').count(), 2);
    assert!(verify(&created.secret, first), "the old secret still verifies");
    assert!(verify(&rotated.secret, first), "the new secret verifies");

    let again = world
        .api
        .rotate_secret(&account("acct_a"), None, &created.endpoint.id, Some(0))
        .await
        .unwrap();
    world.publish_tokens("acct_a", 1).await;
    assert!(eventually(WAIT, || async { receiver.received().len() == 2 }).await);
    let second = &receiver.received()[1];
    assert!(verify(&again.secret, second));
    assert!(
        !verify(&rotated.secret, second),
        "an overlap of 0 ends the old secret at once"
    );
}

#[tokio::test]
async fn a_failed_message_can_be_retried_and_a_range_replayed_with_the_same_id_and_body() {
    let world = World::new(Backend::Sqlite, fast_config()).await;
    let _service = world.start_service();
    let receiver = Receiver::start().await;
    // 400 is the receiver's final word: no automatic retry.
    receiver.script([Reply::status(400)]);
    let created = world
        .api
        .create_endpoint(&account("acct_a"), None, subscribe(&receiver.url(), &["token.issued"]))
        .await
        .unwrap();
    let published = world.publish_tokens("acct_a", 1).await;
    assert!(eventually(WAIT, || async { receiver.received().len() == 1 }).await);
    let failed_id = MessageId::parse(&receiver.received()[0].id).expect("a message id");
    let mut status = String::new();
    for _ in 0..500 {
        status = world
            .api
            .find_message(&account("acct_a"), &failed_id)
            .await
            .unwrap()
            .status;
        if status == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, "failed");

    let retried = world
        .api
        .retry_message(&account("acct_a"), &created.endpoint.id, &failed_id)
        .await
        .unwrap();
    assert_eq!(retried.id, failed_id);
    assert!(eventually(WAIT, || async { receiver.received().len() == 2 }).await);
    let received = receiver.received();
    assert_eq!(failed_id, received[1].id.as_str());
    assert_eq!(received[1].body, received[0].body);

    let time = published[0].time.timestamp_millis();
    let queued = world
        .api
        .replay(&account("acct_a"), &created.endpoint.id, time - 1000, time + 1000)
        .await
        .unwrap();
    assert_eq!(queued, 1);
    assert!(eventually(WAIT, || async { receiver.received().len() == 3 }).await);
    assert_eq!(receiver.received()[2].body, received[0].body);

    let bad = world
        .api
        .replay(&account("acct_a"), &created.endpoint.id, time, time - 1)
        .await;
    assert!(matches!(bad, Err(WebhookError::Invalid(_))));

    let test = world
        .api
        .send_test(&account("acct_a"), &created.endpoint.id)
        .await
        .unwrap();
    assert!(eventually(WAIT, || async { receiver.received().len() == 4 }).await);
    let body: Value = serde_json::from_str(&receiver.received()[3].body).unwrap();
    assert_eq!(body["type"], "webhook.test");
    assert_eq!(test.id, receiver.received()[3].id.as_str());
}

/// A person asks for a message again while its delivery is under way: the attempt's answer, when
/// it comes, must not record over the request, or the message would never be sent again.
#[tokio::test]
async fn a_message_retried_or_replayed_while_in_flight_is_sent_again() {
    // Leases and timeouts far beyond the test, so that only the request can send a message again.
    let config = WebhookConfig {
        request_timeout_ms: 60_000,
        lease_ms: 120_000,
        ..fast_config()
    };
    let world = World::new(Backend::Sqlite, config).await;
    let _service = world.start_service();
    let receiver = Receiver::start().await;
    let created = world
        .api
        .create_endpoint(&account("acct_a"), None, subscribe(&receiver.url(), &["token.issued"]))
        .await
        .unwrap();
    let endpoint = &created.endpoint.id;

    let in_flight = CancellationToken::new();
    receiver.hold_next(&in_flight);
    world.publish_tokens("acct_a", 1).await;
    assert!(eventually(WAIT, || async { receiver.received().len() == 1 }).await);
    let id = MessageId::parse(&receiver.received()[0].id).expect("a message id");
    world
        .api
        .retry_message(&account("acct_a"), endpoint, &id)
        .await
        .unwrap();
    in_flight.cancel();
    assert!(
        eventually(WAIT, || async { receiver.received().len() == 2 }).await,
        "the retried message is sent again"
    );
    assert_eq!(receiver.received()[1].id, id.as_str());
    assert!(
        eventually(WAIT, || async {
            world.api.find_message(&account("acct_a"), &id).await.unwrap().status == "delivered"
        })
        .await
    );

    let in_flight = CancellationToken::new();
    receiver.hold_next(&in_flight);
    let published = world.publish_tokens("acct_a", 1).await;
    assert!(eventually(WAIT, || async { receiver.received().len() == 3 }).await);
    let time = published[0].time.timestamp_millis();
    let queued = world
        .api
        .replay(&account("acct_a"), endpoint, time, time + 1)
        .await
        .unwrap();
    assert!(queued >= 1, "the message in flight is queued again");
    in_flight.cancel();
    assert!(
        eventually(WAIT, || async {
            receiver.received().len() == 3 + usize::try_from(queued).unwrap()
        })
        .await,
        "each replayed message is sent again"
    );
    let received = receiver.received();
    let sent_again = received[3..].iter().filter(|r| r.id == received[2].id).count();
    assert_eq!(sent_again, 1, "the message in flight is sent again, once");
}

#[tokio::test]
async fn one_account_never_sees_nor_touches_another_accounts_endpoints() {
    let world = World::new(Backend::Sqlite, fast_config()).await;
    let _service = world.start_service();
    let receiver_a = Receiver::start().await;
    let receiver_b = Receiver::start().await;
    let a = world
        .api
        .create_endpoint(&account("acct_a"), None, subscribe(&receiver_a.url(), &["token.*"]))
        .await
        .unwrap();
    world
        .api
        .create_endpoint(&account("acct_b"), None, subscribe(&receiver_b.url(), &["token.*"]))
        .await
        .unwrap();
    world.publish_tokens("acct_b", 2).await;
    world.publish_tokens("acct_a", 1).await;
    assert!(
        eventually(WAIT, || async {
            receiver_a.received().len() == 1 && receiver_b.received().len() == 2
        })
        .await
    );
    let id = &a.endpoint.id;
    let message_id = MessageId::parse(&receiver_a.received()[0].id).expect("a message id");

    assert_eq!(world.api.list_endpoints(&account("acct_b")).await.unwrap().len(), 1);
    assert!(matches!(
        world.api.get_endpoint(&account("acct_b"), id).await,
        Err(WebhookError::EndpointNotFound)
    ));
    assert!(matches!(
        world.api.list_attempts(&account("acct_b"), id, 0, None).await,
        Err(WebhookError::EndpointNotFound)
    ));
    assert!(matches!(
        world.api.retry_message(&account("acct_b"), id, &message_id).await,
        Err(WebhookError::EndpointNotFound)
    ));
    assert!(matches!(
        world.api.replay(&account("acct_b"), id, 1, 2).await,
        Err(WebhookError::EndpointNotFound)
    ));
    assert!(matches!(
        world.api.send_test(&account("acct_b"), id).await,
        Err(WebhookError::EndpointNotFound)
    ));
    assert!(matches!(
        world.api.rotate_secret(&account("acct_b"), None, id, None).await,
        Err(WebhookError::EndpointNotFound)
    ));
    assert!(matches!(
        world.api.delete_endpoint(&account("acct_b"), None, id).await,
        Err(WebhookError::EndpointNotFound)
    ));
    assert_eq!(
        world.api.get_endpoint(&account("acct_a"), id).await.unwrap().status,
        "active"
    );
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let world = World::new(Backend::Sqlite, fast_config()).await;
    let _service = world.start_service();
    let receiver = Receiver::start().await;
    receiver.script([Reply {
        status: 429,
        headers: vec![("retry-after", "1".to_owned())],
        body: String::new(),
    }]);
    world
        .api
        .create_endpoint(&account("acct_a"), None, subscribe(&receiver.url(), &["token.issued"]))
        .await
        .unwrap();
    world.publish_tokens("acct_a", 1).await;
    assert!(eventually(WAIT, || async { receiver.received().len() == 2 }).await);
    let received = receiver.received();
    // The backoff alone would retry within 400 ms; the receiver asked for a second.
    assert!(
        received[1].at - received[0].at >= Duration::from_secs(1),
        "retried after {:?}",
        received[1].at - received[0].at
    );
    assert_eq!(received[1].id, received[0].id);
}
