//! Enabling a disabled endpoint again: it is active with its failure tracking started over, new
//! events reach it, the messages that failed while it was disabled are not resent, enabling an
//! active endpoint changes nothing, and another account's endpoint is not found.

use std::time::Duration;

use latchkey_ids::{AccountId, EndpointId};
use latchkey_storage::Backend;
use latchkey_test_support::eventually;
use latchkey_webhook::{Endpoint, EndpointInput, WebhookConfig, WebhookError};

use crate::support::{Receiver, Reply, World, account, fast_config};

const WAIT: Duration = Duration::from_secs(30);

/// Polls the endpoint until `done` holds for it; answers it (or the last one read).
async fn endpoint_once(
    world: &World,
    account: &AccountId,
    id: &EndpointId,
    done: impl Fn(&Endpoint) -> bool,
) -> Endpoint {
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        let endpoint = world.api.get_endpoint(account, id).await.expect("get endpoint");
        if done(&endpoint) || tokio::time::Instant::now() > until {
            return endpoint;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every emitted event of `event_type` once `count` of them are on the bus (or the deadline passed).
async fn emitted_once(world: &World, event_type: &str, count: usize) -> Vec<latchkey_events::Envelope> {
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        let emitted = world.emitted(event_type).await;
        if emitted.len() >= count || tokio::time::Instant::now() > until {
            return emitted;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn disabled_for_failing_then_enabled(backend: Backend) {
    let config = WebhookConfig {
        failing_warn_after_secs: 0,
        disable_after_secs: 1,
        ..fast_config()
    };
    let world = World::new(backend, config).await;
    let _service = world.start_service();
    let receiver = Receiver::start().await;
    receiver.otherwise(Reply::status(500));
    let created = world
        .api
        .create_endpoint(
            &account("acct_a"),
            None,
            EndpointInput {
                url: receiver.url(),
                events: vec!["token.issued".to_owned()],
                description: None,
            },
        )
        .await
        .expect("create");
    let id = created.endpoint.id.clone();
    world.publish_tokens("acct_a", 1).await;
    let disabled = endpoint_once(&world, &account("acct_a"), &id, |e| e.status == "disabled").await;
    assert_eq!(
        (disabled.status.as_str(), disabled.disabled_reason.as_str()),
        ("disabled", "failing")
    );
    assert_ne!(disabled.failing_since_ms, 0);
    let failed_attempts = receiver.received().len();

    // Another account cannot enable it, and learns nothing about it.
    let theirs = world.api.enable_endpoint(&account("acct_b"), Some("key_b"), &id).await;
    assert!(matches!(theirs, Err(WebhookError::EndpointNotFound)), "{theirs:?}");
    assert_eq!(
        world.api.get_endpoint(&account("acct_a"), &id).await.unwrap().status,
        "disabled"
    );

    receiver.otherwise(Reply::status(204));
    let enabled = world
        .api
        .enable_endpoint(&account("acct_a"), Some("key_a"), &id)
        .await
        .expect("enable");
    assert_eq!(enabled.status, "active");
    assert_eq!(enabled.disabled_reason, "");
    assert_eq!(enabled.failing_since_ms, 0, "failure tracking starts over");
    assert!(enabled.updated_at_ms >= disabled.updated_at_ms);
    // Enabling an active endpoint is a no-op.
    let again = world
        .api
        .enable_endpoint(&account("acct_a"), Some("key_a"), &id)
        .await
        .expect("enable again");
    assert_eq!(again, enabled);

    // A new event reaches it; the one that failed while it was failing is not sent again.
    let later = world.publish_tokens("acct_a", 1).await;
    assert!(eventually(WAIT, || async { receiver.received().iter().any(|r| r.status == 204) }).await);
    let delivered: Vec<_> = receiver.received().into_iter().filter(|r| r.status == 204).collect();
    assert_eq!(delivered.len(), 1);
    assert!(
        delivered[0].body.contains(&later[0].id),
        "the new event, not the failed one"
    );
    assert_eq!(receiver.received().len(), failed_attempts + 1);

    // The same outbox publishes in order: once the rotation's event is out, an event of the no-op
    // enable would be out too.
    world
        .api
        .rotate_secret(&account("acct_a"), Some("key_a"), &id, Some(0))
        .await
        .expect("rotate");
    assert_eq!(emitted_once(&world, "endpoint.secret_rotated", 1).await.len(), 1);
    let announced = world.emitted("endpoint.enabled").await;
    assert_eq!(announced.len(), 1, "one event for the enable that changed something");
    assert_eq!(announced[0].account, "acct_a");
    assert_eq!(announced[0].actor.as_deref(), Some("key_a"));
    assert_eq!(announced[0].data["endpoint_id"], id.as_str());
    assert_eq!(announced[0].data["previous_reason"], "failing");
}

#[tokio::test]
async fn an_endpoint_disabled_for_failing_can_be_enabled_again_sqlite() {
    disabled_for_failing_then_enabled(Backend::Sqlite).await;
}

#[tokio::test]
async fn an_endpoint_disabled_for_failing_can_be_enabled_again_postgres() {
    disabled_for_failing_then_enabled(Backend::Postgres).await;
}

#[tokio::test]
async fn enabling_a_missing_endpoint_is_not_found() {
    let world = World::new(Backend::Sqlite, fast_config()).await;
    let missing = world
        .api
        .enable_endpoint(&account("acct_a"), None, &EndpointId::new())
        .await;
    assert!(matches!(missing, Err(WebhookError::EndpointNotFound)), "{missing:?}");
}
