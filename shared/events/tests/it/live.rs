//! Live subscriptions see what is published after they start, filtered by type, and say when they
//! may have missed some (a cut NATS connection, a subscriber that fell behind) and when they are
//! current again; a live feed turns its cache off and on accordingly.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use latchkey_events::{BusError, Envelope, EventFilter, LiveCache, LiveFeed, Step, Subscription};
use latchkey_test_support::{BusKind, TestBus};

use crate::support::{CutOff, DEADLINE, deleted_key, event, events};

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

async fn next_step(subscription: &mut Subscription) -> Step {
    tokio::time::timeout(DEADLINE, subscription.next_step())
        .await
        .expect("a step in time")
        .expect("subscription open")
        .expect("no error")
}

#[tokio::test]
async fn a_nats_live_subscription_reports_a_cut_connection_and_catches_up_after_it() {
    let test = CutOff::new().await;
    let mut live = test.behind_proxy.live(EventFilter::all()).await.expect("live");
    let before = event(0);
    test.direct
        .bus
        .publish(std::slice::from_ref(&before))
        .await
        .expect("publish");
    assert!(matches!(next_step(&mut live).await, Step::Event(delivery) if delivery.envelope.id == before.id));

    test.proxy.cut();
    assert!(matches!(next_step(&mut live).await, Step::Interrupted));
    // Published while the subscriber is cut off: the server has nobody to send it to.
    test.direct.bus.publish(&[event(1)]).await.expect("publish");

    test.proxy.restore();
    assert!(matches!(next_step(&mut live).await, Step::CaughtUp));
    // From now on everything arrives.
    let after = event(2);
    test.direct
        .bus
        .publish(std::slice::from_ref(&after))
        .await
        .expect("publish");
    assert!(matches!(next_step(&mut live).await, Step::Event(delivery) if delivery.envelope.id == after.id));
    test.direct.cleanup().await;
}

/// What a feed told its cache, in order.
#[derive(Default)]
struct Recording(Mutex<Vec<String>>);

impl Recording {
    fn seen(&self) -> Vec<String> {
        self.0.lock().expect("recording").clone()
    }

    async fn wait_for(&self, expected: &[&str]) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while self.seen() != expected {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the cache was told {:?}, expected {expected:?}",
                self.seen()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl LiveCache for Recording {
    fn apply(&self, envelope: &Envelope) {
        self.0.lock().expect("recording").push(envelope.id.clone());
    }

    fn set_live(&self, live: bool) {
        let told = if live { "live" } else { "off" };
        self.0.lock().expect("recording").push(told.to_owned());
    }
}

#[tokio::test]
async fn a_live_feed_turns_its_cache_off_while_cut_off_and_on_again_once_caught_up() {
    let test = CutOff::new().await;
    let cache = Arc::new(Recording::default());
    let feed = LiveFeed::subscribe(test.behind_proxy.clone(), EventFilter::all(), cache.clone()).await;
    let running = tokio::spawn(feed.run());
    cache.wait_for(&["off", "live"]).await;
    let first = event(0);
    test.direct
        .bus
        .publish(std::slice::from_ref(&first))
        .await
        .expect("publish");
    cache.wait_for(&["off", "live", &first.id]).await;

    test.proxy.cut();
    cache.wait_for(&["off", "live", &first.id, "off"]).await;
    test.direct.bus.publish(&[event(1)]).await.expect("publish");
    test.proxy.restore();
    cache.wait_for(&["off", "live", &first.id, "off", "live"]).await;
    let last = event(2);
    test.direct
        .bus
        .publish(std::slice::from_ref(&last))
        .await
        .expect("publish");
    cache
        .wait_for(&["off", "live", &first.id, "off", "live", &last.id])
        .await;
    running.abort();
    test.direct.cleanup().await;
}

#[tokio::test]
async fn a_local_live_subscription_that_fell_behind_says_so_and_carries_on() {
    let test = TestBus::new(BusKind::Local).await;
    let mut live = test.bus.live(EventFilter::all()).await.expect("live");
    // More than the in-process channel holds (4096), published before the subscriber reads any.
    let flood = events(4100);
    test.bus.publish(&flood).await.expect("publish");
    assert!(matches!(next_step(&mut live).await, Step::Interrupted));
    assert!(matches!(next_step(&mut live).await, Step::CaughtUp));
    // What it still holds comes next, in order, up to the last event.
    let mut last = None;
    while last.as_ref() != flood.last().map(|event| &event.id) {
        let Step::Event(delivery) = next_step(&mut live).await else {
            panic!("only events after catching up");
        };
        last = Some(delivery.envelope.id);
    }
}
