//! The service killed mid-retry: nothing is lost, and no webhook-id ever arrives with another body.

use std::{collections::HashMap, time::Duration};

use latchkey_storage::Backend;
use latchkey_test_support::eventually;
use latchkey_webhook::{EndpointInput, WebhookConfig};

use crate::support::{Receiver, Reply, World, account, fast_config, verify};

async fn killed_mid_retry(backend: Backend) {
    let config = WebhookConfig {
        // Long enough that the kill lands while the message waits for its next attempt.
        retry_initial_ms: 300,
        ..fast_config()
    };
    let world = World::new(backend, config).await;
    let service = world.start_service();
    let receiver = Receiver::start().await;
    receiver.script([Reply::status(503), Reply::status(503)]);
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
        .unwrap();
    world.publish_tokens("acct_a", 1).await;
    assert!(eventually(Duration::from_secs(30), || async { !receiver.received().is_empty() }).await);

    service.kill();
    // Events keep coming while the service is down: the durable consumer keeps them.
    world.publish_tokens("acct_a", 4).await;
    let _restarted = world.start_service();

    assert!(
        eventually(Duration::from_secs(60), || async {
            let delivered: std::collections::HashSet<String> = receiver
                .received()
                .iter()
                .filter(|r| r.status == 200)
                .map(|r| r.id.clone())
                .collect();
            delivered.len() == 5
        })
        .await,
        "all five events delivered after the restart"
    );

    let mut bodies: HashMap<String, String> = HashMap::new();
    for delivery in receiver.received() {
        assert!(verify(&created.secret, &delivery));
        let body = bodies
            .entry(delivery.id.clone())
            .or_insert_with(|| delivery.body.clone());
        assert_eq!(
            *body, delivery.body,
            "webhook-id {} arrived with two bodies",
            delivery.id
        );
    }
    assert_eq!(bodies.len(), 5, "one webhook-id per event, no more");
}

#[tokio::test]
async fn a_service_killed_mid_retry_loses_nothing_sqlite() {
    killed_mid_retry(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_service_killed_mid_retry_loses_nothing_postgres() {
    killed_mid_retry(Backend::Postgres).await;
}
