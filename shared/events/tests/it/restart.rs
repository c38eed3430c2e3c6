//! Nothing is lost across a NATS restart: events enqueued while the broker is down wait in the
//! outbox and reach the durable consumer once it is back, whether it was stopped or crashed.

use std::collections::HashSet;

use latchkey_events::EventFilter;
use latchkey_storage::Backend;
use latchkey_test_support::{NatsServer, TestBus, eventually};

use crate::support::{CutOff, DEADLINE, Recorded, enqueue, events, ids, outbox, spawn_recorder, spawn_relay};

/// How the broker goes away.
#[derive(Clone, Copy)]
enum Outage {
    /// SIGTERM: the server flushes its state, so no event comes twice.
    Stop,
    /// SIGKILL: acks not yet written are lost, so some events come again (at least once).
    Crash,
}

async fn nothing_is_lost(outage: Outage) {
    let mut server = NatsServer::spawn().await;
    let test = TestBus::nats(&server.url()).await;
    let (outbox, _db) = outbox(Backend::Sqlite).await;
    let relay = spawn_relay(&outbox, &test.bus);
    let recorded = Recorded::default();
    let consumer = spawn_recorder(&test.bus, "restart-test", EventFilter::all(), &recorded);

    let sent = events(60);
    enqueue(&outbox, &sent[..20]).await;
    recorded.wait_for(20).await;

    match outage {
        Outage::Stop => server.stop(),
        Outage::Crash => server.kill(),
    }
    enqueue(&outbox, &sent[20..40]).await;
    enqueue(&outbox, &sent[40..]).await;
    // The relay cannot publish them now; they stay in the outbox.
    assert_eq!(outbox.pending().await.expect("count outbox"), 40);

    server.start().await;
    let expected: HashSet<String> = ids(&sent).into_iter().collect();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let seen: HashSet<String> = recorded.ids().into_iter().collect();
        if seen.len() == expected.len() {
            assert_eq!(seen, expected);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {} events arrived",
            seen.len(),
            expected.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    consumer.stop().await;
    relay.stop().await;
    assert_eq!(outbox.pending().await.expect("count outbox"), 0);
    if let Outage::Stop = outage {
        // Exactly once and in order: nothing was redelivered.
        assert_eq!(recorded.ids(), ids(&sent));
    }
}

#[tokio::test]
async fn nothing_is_lost_across_a_nats_stop_and_start() {
    nothing_is_lost(Outage::Stop).await;
}

#[tokio::test]
async fn nothing_is_lost_across_a_nats_crash_and_restart() {
    nothing_is_lost(Outage::Crash).await;
}

/// The broker went away holding the consumer's request for what is ready (it never answers it):
/// the consumer asks again once connected, rather than wait for that answer for ever.
#[tokio::test]
async fn a_nats_consumer_whose_request_the_broker_lost_asks_again() {
    let test = CutOff::new().await;
    let nats = test.direct_nats();
    let recorded = Recorded::default();
    let consumer = spawn_recorder(&test.behind_proxy, "lost-request-test", EventFilter::all(), &recorded);

    // From the moment the consumer exists, nothing it sends reaches the broker, until one of its
    // requests for what is ready now (`no_wait`) is lost.
    let started = eventually(DEADLINE, || async {
        match nats.jetstream().get_stream(nats.stream_name()).await {
            Ok(stream) => stream.consumer_info("lost-request-test").await.is_ok(),
            Err(_) => false,
        }
    })
    .await;
    assert!(started, "the consumer never started");
    test.proxy.swallow_what_clients_send();
    let lost_request: &[u8] = b"\"no_wait\":true";
    let sent_request = eventually(DEADLINE, || async {
        test.proxy
            .swallowed()
            .windows(lost_request.len())
            .any(|sent| sent == lost_request)
    })
    .await;
    assert!(sent_request, "the consumer sent no request");
    // The connection breaks, the client connects again; the lost request stays unanswered.
    test.proxy.cut();
    test.proxy.restore();

    let sent = events(1);
    test.direct.bus.publish(&sent).await.expect("publish");
    recorded.wait_for(1).await;
    assert_eq!(recorded.ids(), ids(&sent));
    consumer.stop().await;
}
