//! Durable consumers on both buses: deduplication, resuming after a restart, redelivery of a
//! failed event before the ones after it, and type filters.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use latchkey_events::{
    Envelope, EventFilter,
    catalogue::{ApiKeyCreated, ApiKeyDeleted},
    run_consumer,
};
use latchkey_test_support::{BusKind, TestBus};
use tokio::sync::Notify;

use crate::support::{DEADLINE, Recorded, event, events, ids, spawn_recorder};

async fn duplicates_are_delivered_once(kind: BusKind) {
    let test = TestBus::new(kind).await;
    let sent = events(4);
    test.bus.publish(&sent[..2]).await.expect("publish");
    // The same envelopes again, alone and inside a batch: a relay retrying after an outage.
    test.bus.publish(&sent[..1]).await.expect("publish duplicate");
    test.bus
        .publish(&[sent[1].clone(), sent[2].clone(), sent[0].clone()])
        .await
        .expect("publish");
    test.bus.publish(&sent[3..]).await.expect("publish");

    let recorded = Recorded::default();
    let consumer = spawn_recorder(&test.bus, "dedup-test", EventFilter::all(), &recorded);
    recorded.wait_for(4).await;
    // The last event arrives after any duplicate would have, so the log is complete here.
    assert_eq!(recorded.ids(), ids(&sent));
    consumer.stop().await;
    test.cleanup().await;
}

#[tokio::test]
async fn local_duplicates_are_delivered_once() {
    duplicates_are_delivered_once(BusKind::Local).await;
}

#[tokio::test]
async fn nats_duplicates_are_delivered_once() {
    duplicates_are_delivered_once(BusKind::Nats).await;
}

/// Consumes half, stops the consumer from inside its handler, starts it again under the same name:
/// exactly the second half arrives.
async fn durable_consumer_resumes(kind: BusKind) {
    let test = TestBus::new(kind).await;
    let sent = events(10);
    test.bus.publish(&sent).await.expect("publish");

    let first = Recorded::default();
    let half_done = Arc::new(Notify::new());
    let handler = {
        let (first, half_done) = (first.clone(), half_done.clone());
        move |event: Envelope| {
            let (first, half_done) = (first.clone(), half_done.clone());
            async move {
                first.push(event);
                if first.len() == 5 {
                    half_done.notify_one();
                }
                Ok::<(), String>(())
            }
        }
    };
    let stop = {
        let half_done = half_done.clone();
        async move { half_done.notified().await }
    };
    let run = run_consumer(
        test.bus.clone(),
        "resume-test".into(),
        EventFilter::all(),
        handler,
        stop,
    );
    tokio::time::timeout(DEADLINE, run)
        .await
        .expect("first run stops after half");
    assert_eq!(first.ids(), ids(&sent[..5]));

    let second = Recorded::default();
    let consumer = spawn_recorder(&test.bus, "resume-test", EventFilter::all(), &second);
    second.wait_for(5).await;
    assert_eq!(second.ids(), ids(&sent[5..]));
    consumer.stop().await;
    test.cleanup().await;
}

#[tokio::test]
async fn local_durable_consumer_resumes_after_restart() {
    durable_consumer_resumes(BusKind::Local).await;
}

#[tokio::test]
async fn nats_durable_consumer_resumes_after_restart() {
    durable_consumer_resumes(BusKind::Nats).await;
}

/// The handler fails once on the third event: it comes again, and only then the rest.
async fn failed_event_is_redelivered_first(kind: BusKind) {
    let test = TestBus::new(kind).await;
    let sent = events(5);
    test.bus.publish(&sent).await.expect("publish");

    let attempts = Arc::new(Mutex::new(Vec::new()));
    let handled = Recorded::default();
    let failing_id = sent[2].id.clone();
    let handler = {
        let (attempts, handled) = (attempts.clone(), handled.clone());
        let failed_once = Arc::new(Mutex::new(HashSet::new()));
        move |event: Envelope| {
            let (attempts, handled, failed_once) = (attempts.clone(), handled.clone(), failed_once.clone());
            let fail = event.id == failing_id && failed_once.lock().expect("lock").insert(event.id.clone());
            async move {
                attempts.lock().expect("lock").push(event.id.clone());
                if fail {
                    return Err("simulated handler failure");
                }
                handled.push(event);
                Ok(())
            }
        }
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = tokio::spawn(run_consumer(
        test.bus.clone(),
        "retry-test".into(),
        EventFilter::all(),
        handler,
        async move {
            let _ = stopped.await;
        },
    ));
    handled.wait_for(5).await;
    let _ = stop.send(());
    consumer.await.expect("consumer stops");

    let expected: Vec<String> = [0, 1, 2, 2, 3, 4].iter().map(|&n| sent[n].id.clone()).collect();
    assert_eq!(*attempts.lock().expect("lock"), expected);
    assert_eq!(handled.ids(), ids(&sent));
    test.cleanup().await;
}

#[tokio::test]
async fn local_failed_event_is_redelivered_before_the_next() {
    failed_event_is_redelivered_first(BusKind::Local).await;
}

#[tokio::test]
async fn nats_failed_event_is_redelivered_before_the_next() {
    failed_event_is_redelivered_first(BusKind::Nats).await;
}

/// A consumer filtered on one type sees only that type.
async fn filter_selects_event_types(kind: BusKind) {
    let test = TestBus::new(kind).await;
    let created = ApiKeyCreated {
        key_id: "key_1".into(),
        name: "ci".into(),
        prefix: "lk_live_ab".into(),
        last4: "wxyz".into(),
    };
    let deleted = ApiKeyDeleted {
        key_id: "key_1".into(),
        secret_hash: "00".repeat(32),
    };
    let sent = vec![
        event(0),
        Envelope::new("/latchkey/test", "acct_test", None, &created),
        Envelope::new("/latchkey/test", "acct_other", None, &deleted),
    ];
    test.bus.publish(&sent).await.expect("publish");

    let api_keys = Recorded::default();
    let deletions = Recorded::default();
    let all_keys = spawn_recorder(&test.bus, "keys", EventFilter::event_type("api_key.*"), &api_keys);
    let only_deleted = spawn_recorder(
        &test.bus,
        "deleted",
        EventFilter::event_type("api_key.deleted"),
        &deletions,
    );
    api_keys.wait_for(2).await;
    deletions.wait_for(1).await;
    assert_eq!(api_keys.ids(), ids(&sent[1..]));
    assert_eq!(deletions.ids(), ids(&sent[2..]));
    all_keys.stop().await;
    only_deleted.stop().await;
    test.cleanup().await;
}

#[tokio::test]
async fn local_filter_selects_event_types() {
    filter_selects_event_types(BusKind::Local).await;
}

#[tokio::test]
async fn nats_filter_selects_event_types() {
    filter_selects_event_types(BusKind::Nats).await;
}
