//! Batch consumers on both buses: batches formed from a backlog keep publish order, a lone event
//! is handed over at once, a failing batch comes again whole before anything after it, and on
//! JetStream the next batch is fetched while one is handled.

use std::{collections::HashSet, sync::Mutex, time::Duration};

use latchkey_events::{EventFilter, run_batch_consumer};
use latchkey_test_support::{BusKind, TestBus};

use crate::support::{Batches, Running, event, events, ids, spawn_batch_recorder, stop_signal};

/// 1,234 events wait; the consumer takes them 500 at a time, in order; then a lone event comes
/// alone. On NATS the consumer existed already as a one-at-a-time consumer, as the audit
/// service's did before it consumed in batches.
async fn batches_from_a_backlog_keep_order(kind: BusKind) {
    let test = TestBus::new(kind).await;
    drop(
        test.bus
            .durable("batch-test", EventFilter::all())
            .await
            .expect("one-at-a-time consumer"),
    );
    let sent = events(1234);
    for chunk in sent.chunks(300) {
        test.bus.publish(chunk).await.expect("publish");
    }

    let handed = Batches::default();
    let consumer = spawn_batch_recorder(&test.bus, "batch-test", 500, &handed, |_| false);
    handed.wait_for_events(sent.len()).await;
    let batches = handed.all();
    assert_eq!(batches.concat(), ids(&sent), "every event once, in publish order");
    assert_eq!(batches[0].len(), 500, "a backlog fills the first batch");
    assert!(batches.iter().all(|batch| batch.len() <= 500));
    assert!(batches.len() < 10, "{} batches for 1,234 events", batches.len());

    let lone = event(9999);
    test.bus.publish(std::slice::from_ref(&lone)).await.expect("publish");
    handed.wait_for_events(sent.len() + 1).await;
    assert_eq!(
        handed.all().last(),
        Some(&vec![lone.id.clone()]),
        "a lone event is handed over alone"
    );
    consumer.stop().await;
    test.cleanup().await;
}

#[tokio::test]
async fn local_batches_from_a_backlog_keep_order() {
    batches_from_a_backlog_keep_order(BusKind::Local).await;
}

#[tokio::test]
async fn local_postgres_batches_from_a_backlog_keep_order() {
    batches_from_a_backlog_keep_order(BusKind::LocalPostgres).await;
}

#[tokio::test]
async fn nats_batches_from_a_backlog_keep_order() {
    batches_from_a_backlog_keep_order(BusKind::Nats).await;
}

/// Batches of 8 over 20 events; the one holding event 10 fails once: it comes again whole, and only
/// then the rest. On JetStream the batch after it was fetched while it was handled, and is handed
/// back behind it.
async fn failing_batch_comes_again_whole(kind: BusKind) {
    let test = TestBus::new(kind).await;
    let sent = events(20);
    test.bus.publish(&sent).await.expect("publish");

    let handed = Batches::default();
    let failing_id = sent[10].id.clone();
    let failed_once = Mutex::new(HashSet::new());
    let consumer = spawn_batch_recorder(&test.bus, "batch-retry-test", 8, &handed, move |events| {
        events.iter().any(|event| event.id == failing_id)
            && failed_once.lock().expect("lock").insert(failing_id.clone())
    });
    // 8 + 8 (failed) + 8 (again) + 4.
    handed.wait_for_events(28).await;
    consumer.stop().await;

    let expected = vec![ids(&sent[..8]), ids(&sent[8..16]), ids(&sent[8..16]), ids(&sent[16..])];
    assert_eq!(handed.all(), expected);
    test.cleanup().await;
}

#[tokio::test]
async fn local_failing_batch_comes_again_whole() {
    failing_batch_comes_again_whole(BusKind::Local).await;
}

#[tokio::test]
async fn nats_failing_batch_comes_again_whole() {
    failing_batch_comes_again_whole(BusKind::Nats).await;
}

/// 1,500 events wait and the consumer takes 500 at a time. While it handles the first batch, the
/// next is already on its way: JetStream counts both batches unacknowledged. Every event still
/// comes once, in publish order.
#[tokio::test]
async fn nats_fetches_the_next_batch_while_one_is_handled() {
    const CONSUMER: &str = "ahead-test";
    let test = TestBus::new(BusKind::Nats).await;
    let sent = events(1500);
    for chunk in sent.chunks(300) {
        test.bus.publish(chunk).await.expect("publish");
    }

    let handed = Batches::default();
    let most_unacknowledged = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let handler = {
        let (handed, bus, most_unacknowledged) = (handed.clone(), test.bus.clone(), most_unacknowledged.clone());
        move |events: Vec<latchkey_events::Envelope>| {
            let first = handed.events() == 0;
            handed.push(&events, false);
            let (bus, most_unacknowledged) = (bus.clone(), most_unacknowledged.clone());
            async move {
                // The first batch waits until the second is fetched, or two seconds at most.
                let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
                while first && tokio::time::Instant::now() < deadline {
                    let state = bus
                        .consumer_state(CONSUMER)
                        .await
                        .expect("state")
                        .expect("consumer exists");
                    most_unacknowledged.fetch_max(state.unacknowledged, std::sync::atomic::Ordering::Relaxed);
                    if state.unacknowledged > 500 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Ok::<(), String>(())
            }
        }
    };
    let (stop, stopped) = stop_signal();
    let task = tokio::spawn(run_batch_consumer(
        test.bus.clone(),
        CONSUMER.to_owned(),
        EventFilter::all(),
        500,
        handler,
        stopped,
    ));
    let consumer = Running::new(stop, task);
    handed.wait_for_events(sent.len()).await;
    consumer.stop().await;

    assert_eq!(
        most_unacknowledged.load(std::sync::atomic::Ordering::Relaxed),
        1000,
        "the second batch was fetched while the first was handled"
    );
    assert_eq!(handed.all().concat(), ids(&sent), "every event once, in publish order");
    test.cleanup().await;
}
