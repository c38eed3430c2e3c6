//! 10,000 events in a burst, every one delivered to a subscriber.

use std::{collections::HashSet, time::Duration};

use latchkey_storage::Backend;
use latchkey_test_support::eventually;
use latchkey_webhook::EndpointInput;

use crate::support::{Receiver, World, account, fast_config};

const BURST: usize = 10_000;

async fn burst(backend: Backend) {
    let world = World::new(backend, fast_config()).await;
    let _service = world.start_service();
    let receiver = Receiver::start().await;
    world
        .api
        .create_endpoint(
            &account("acct_a"),
            None,
            EndpointInput {
                url: receiver.url(),
                events: vec!["token.*".to_owned()],
                description: None,
            },
        )
        .await
        .unwrap();
    let published = world.publish_tokens("acct_a", BURST).await;
    assert_eq!(published.len(), BURST);

    let delivered = || {
        receiver
            .received()
            .iter()
            .filter(|r| r.status == 200)
            .map(|r| r.id.clone())
            .collect::<HashSet<_>>()
            .len()
    };
    assert!(
        eventually(Duration::from_secs(300), || async { delivered() == BURST }).await,
        "delivered {} of {BURST}",
        delivered()
    );
    let event_ids: HashSet<String> = receiver
        .received()
        .iter()
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["data"]["event_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(event_ids.len(), BURST, "every event, none twice under another id");
}

#[tokio::test]
async fn ten_thousand_events_in_a_burst_are_all_delivered_sqlite() {
    burst(Backend::Sqlite).await;
}

#[tokio::test]
async fn ten_thousand_events_in_a_burst_are_all_delivered_postgres() {
    burst(Backend::Postgres).await;
}
