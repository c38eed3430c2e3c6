//! Replays on every bus: the events stored from a publish time on, then the caught-up marker, then
//! new events; type filters; and neither a gap nor a duplicate when publishing races the start.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use chrono::{DateTime, Utc};
use latchkey_events::{Delivery, Envelope, EventFilter, Step, Subscription};
use latchkey_test_support::{BusKind, TestBus};

use crate::support::{DEADLINE, deleted_key, event, events, ids};

async fn next_step(replay: &mut Subscription) -> Step {
    tokio::time::timeout(DEADLINE, replay.next_step())
        .await
        .expect("a step in time")
        .expect("replay open")
        .expect("no error")
}

async fn next_event(replay: &mut Subscription) -> Delivery {
    match next_step(replay).await {
        Step::Event(delivery) => delivery,
        Step::CaughtUp => panic!("caught up twice"),
        Step::Interrupted => panic!("a replay is never interrupted"),
    }
}

/// Reads a replay up to its caught-up marker: the events it found stored.
async fn history(replay: &mut Subscription) -> Vec<Delivery> {
    let mut found = Vec::new();
    while let Step::Event(delivery) = next_step(replay).await {
        found.push(delivery);
    }
    found
}

fn delivered_ids(deliveries: &[Delivery]) -> Vec<String> {
    deliveries.iter().map(|delivery| delivery.envelope.id.clone()).collect()
}

fn published_at(delivery: &Delivery) -> DateTime<Utc> {
    delivery.published_at().expect("a replayed event has its publish time")
}

/// Polls until the clock has passed `instant`'s millisecond, so what is published next has a
/// later publish time.
async fn clock_passes(instant: DateTime<Utc>) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while Utc::now().timestamp_millis() <= instant.timestamp_millis() {
        assert!(tokio::time::Instant::now() < deadline, "the clock stands still");
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

async fn replay_starts_at_the_publish_time(kind: BusKind) {
    let test = TestBus::new(kind).await;
    let sent = events(13);
    for event in &sent[..5] {
        test.bus.publish(std::slice::from_ref(event)).await.expect("publish");
    }
    // Every event's publish time, as the bus reports it, from a replay of everything.
    let mut everything = test
        .bus
        .replay(EventFilter::all(), DateTime::UNIX_EPOCH)
        .await
        .expect("replay");
    let mut stored = history(&mut everything).await;
    assert_eq!(delivered_ids(&stored), ids(&sent[..5]));
    clock_passes(published_at(&stored[4])).await;
    test.bus.publish(&sent[5..10]).await.expect("publish");
    for _ in 5..10 {
        stored.push(next_event(&mut everything).await);
    }
    assert_eq!(delivered_ids(&stored), ids(&sent[..10]));

    let since = published_at(&stored[5]);
    let expected: Vec<String> = stored
        .iter()
        .filter(|delivery| published_at(delivery) >= since)
        .map(|delivery| delivery.envelope.id.clone())
        .collect();
    assert_eq!(
        expected,
        ids(&sent[5..10]),
        "the clock moved on between the two batches"
    );

    let mut replay = test.bus.replay(EventFilter::all(), since).await.expect("replay");
    assert_eq!(delivered_ids(&history(&mut replay).await), expected);
    // Then it goes on with what is published from now on.
    test.bus.publish(&sent[10..]).await.expect("publish");
    let mut live = Vec::new();
    for _ in 10..13 {
        live.push(next_event(&mut replay).await);
    }
    assert_eq!(delivered_ids(&live), ids(&sent[10..]));
    test.cleanup().await;
}

#[tokio::test]
async fn local_replay_starts_at_the_publish_time_and_goes_on_live() {
    replay_starts_at_the_publish_time(BusKind::Local).await;
}

#[tokio::test]
async fn nats_replay_starts_at_the_publish_time_and_goes_on_live() {
    replay_starts_at_the_publish_time(BusKind::Nats).await;
}

async fn replay_filters_by_type(kind: BusKind) {
    let test = TestBus::new(kind).await;
    let deleted = [deleted_key(1), deleted_key(3), deleted_key(5)];
    test.bus
        .publish(&[event(0), deleted[0].clone(), event(2), deleted[1].clone(), event(4)])
        .await
        .expect("publish");
    let mut replay = test
        .bus
        .replay(EventFilter::event_type("api_key.deleted"), DateTime::UNIX_EPOCH)
        .await
        .expect("replay");
    assert_eq!(delivered_ids(&history(&mut replay).await), ids(&deleted[..2]));

    test.bus
        .publish(&[event(6), deleted[2].clone(), event(7)])
        .await
        .expect("publish");
    assert_eq!(next_event(&mut replay).await.envelope.id, deleted[2].id);
    test.cleanup().await;
}

#[tokio::test]
async fn local_replay_sees_only_the_filtered_type() {
    replay_filters_by_type(BusKind::Local).await;
}

#[tokio::test]
async fn nats_replay_sees_only_the_filtered_type() {
    replay_filters_by_type(BusKind::Nats).await;
}

/// When none of the stored events match, the replay says it caught up at once.
#[tokio::test]
async fn local_replay_of_no_matching_events_is_caught_up_at_once() {
    let test = TestBus::new(BusKind::Local).await;
    test.bus.publish(&events(3)).await.expect("publish");
    let mut replay = test
        .bus
        .replay(EventFilter::event_type("api_key.deleted"), DateTime::UNIX_EPOCH)
        .await
        .expect("replay");
    assert!(history(&mut replay).await.is_empty());
}

/// Replays started while events are being published, one at a time: each one delivers every event
/// exactly once, in publish order, however the start fell between two publishes.
async fn no_gap_and_no_duplicate_while_publishing(kind: BusKind) {
    const COUNT: usize = 300;
    let test = TestBus::new(kind).await;
    let sent = events(COUNT);
    let published = Arc::new(AtomicUsize::new(0));
    let publisher = tokio::spawn({
        let (bus, sent, published) = (test.bus.clone(), sent.clone(), published.clone());
        async move {
            for event in &sent {
                bus.publish(std::slice::from_ref(event)).await.expect("publish");
                published.fetch_add(1, Ordering::SeqCst);
            }
        }
    });

    let mut replays = Vec::new();
    for start_after in [1, 100, 200] {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while published.load(Ordering::SeqCst) < start_after {
            assert!(tokio::time::Instant::now() < deadline, "publishing stalled");
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let replay = test
            .bus
            .replay(EventFilter::all(), DateTime::UNIX_EPOCH)
            .await
            .expect("replay");
        replays.push((start_after, replay));
    }
    for (start_after, mut replay) in replays {
        let (mut seen, mut caught_up_after) = (Vec::<Envelope>::new(), None);
        while seen.len() < COUNT {
            match next_step(&mut replay).await {
                Step::Event(delivery) => seen.push(delivery.envelope),
                Step::CaughtUp => {
                    assert!(caught_up_after.is_none(), "caught up twice");
                    caught_up_after = Some(seen.len());
                }
                Step::Interrupted => panic!("a replay is never interrupted"),
            }
        }
        assert_eq!(ids(&seen), ids(&sent));
        if caught_up_after.is_none() {
            // Everything was stored before the replay started.
            assert!(matches!(next_step(&mut replay).await, Step::CaughtUp));
            caught_up_after = Some(COUNT);
        }
        // At least what was published before the start counts as history.
        assert!(caught_up_after >= Some(start_after));
    }
    publisher.await.expect("publisher");
    test.cleanup().await;
}

#[tokio::test]
async fn local_replay_has_no_gap_or_duplicate_while_publishing() {
    no_gap_and_no_duplicate_while_publishing(BusKind::Local).await;
}

#[tokio::test]
async fn local_postgres_replay_has_no_gap_or_duplicate_while_publishing() {
    no_gap_and_no_duplicate_while_publishing(BusKind::LocalPostgres).await;
}

#[tokio::test]
async fn nats_replay_has_no_gap_or_duplicate_while_publishing() {
    no_gap_and_no_duplicate_while_publishing(BusKind::Nats).await;
}
