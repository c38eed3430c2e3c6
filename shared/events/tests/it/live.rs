//! Live subscriptions see what is published after they start, filtered by type.

use latchkey_events::{BusError, Envelope, EventFilter, Subscription};

use crate::support::{BusKind, DEADLINE, TestBus, deleted_key, event};

async fn next_event(subscription: &mut Subscription) -> Envelope {
    let delivery = tokio::time::timeout(DEADLINE, subscription.next())
        .await
        .expect("an event in time")
        .expect("subscription open")
        .expect("no error");
    let envelope = delivery.envelope.clone();
    delivery.ack().await.expect("ack is a no-op");
    envelope
}

async fn live_receives_new_events(kind: BusKind) {
    let test = TestBus::new(kind).await;
    let before = deleted_key(0);
    test.bus.publish(std::slice::from_ref(&before)).await.expect("publish");

    let mut deletions = test
        .bus
        .live(EventFilter::event_type("api_key.deleted"))
        .await
        .expect("live");
    let mut everything = test.bus.live(EventFilter::all()).await.expect("live");
    let other = event(1);
    let after = deleted_key(2);
    test.bus
        .publish(&[other.clone(), after.clone()])
        .await
        .expect("publish");

    assert_eq!(next_event(&mut deletions).await.id, after.id);
    assert_eq!(next_event(&mut everything).await.id, other.id);
    assert_eq!(next_event(&mut everything).await.id, after.id);
    test.cleanup().await;
}

#[tokio::test]
async fn local_live_subscription_receives_events_published_after_it_started() {
    live_receives_new_events(BusKind::Local).await;
}

#[tokio::test]
async fn nats_live_subscription_receives_events_published_after_it_started() {
    live_receives_new_events(BusKind::Nats).await;
}

#[tokio::test]
async fn bad_consumer_names_and_patterns_are_refused() {
    let test = TestBus::new(BusKind::Local).await;
    assert!(matches!(
        test.bus.durable("audit.chain", EventFilter::all()).await,
        Err(BusError::InvalidConsumerName(_))
    ));
    assert!(matches!(
        test.bus.live(EventFilter::event_type("token..issued")).await,
        Err(BusError::InvalidPattern(_))
    ));
}
