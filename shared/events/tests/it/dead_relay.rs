//! The relay's dead letters, against real NATS: a row the broker refuses (over its `max_payload`)
//! is held for its budget of tries, then dead-lettered and announced, and the rows behind it go
//! out; revocations overtake it and get a larger budget; an outage counts against no row; a retried
//! dead letter goes back on the outbox and is delivered once the broker takes it.

use latchkey_events::{
    DeadLetters, Envelope, EventBus, EventFilter, EventsConfig, NatsConnection,
    catalogue::{EventDeadLettered, TokenRevoked},
    dead_letter::Retried,
    run_relay,
};
use latchkey_storage::Backend;
use latchkey_test_support::{NatsServer, nats_url, unique_prefix};

use crate::support::{DEADLINE, Recorded, enqueue, event, ids, outbox, spawn_recorder, spawn_relay};

/// Small budgets, so a test sees them run out in a second or two.
pub fn limits() -> EventsConfig {
    EventsConfig {
        relay_max_attempts: 3,
        consumer_max_attempts: 3,
        revocation_max_attempts: 5,
    }
}

/// An `account.created` event whose payload is `bytes` larger than it would be.
fn oversized(mut event: Envelope, bytes: usize) -> Envelope {
    event.data["padding"] = serde_json::Value::String("x".repeat(bytes));
    event
}

fn revocation(n: usize) -> Envelope {
    let payload = TokenRevoked {
        jti: format!("tok_{n}"),
        agent_id: "agent_test".into(),
        expires_at: 4_102_444_800,
    };
    Envelope::new("/latchkey/test", "acct_test", None, &payload)
}

/// The `event.dead_lettered` payloads among `events`, in order.
pub fn announcements(events: &[Envelope]) -> Vec<EventDeadLettered> {
    events
        .iter()
        .filter(|event| event.event_type == "event.dead_lettered")
        .map(|event| serde_json::from_value(event.data.clone()).expect("an event.dead_lettered payload"))
        .collect()
}

/// A JetStream bus under a fresh prefix on `url`, with the test budgets, and its client.
async fn nats_bus(url: &str) -> (EventBus, NatsConnection) {
    let connection = NatsConnection::connect(url, async_nats::ConnectOptions::new())
        .await
        .expect("connect to NATS");
    let bus = EventBus::nats(connection.clone(), &unique_prefix())
        .await
        .expect("nats bus")
        .with_config(limits());
    (bus, connection)
}

async fn delete_stream(bus: &EventBus) {
    if let EventBus::Nats(bus) = bus {
        bus.jetstream()
            .delete_stream(bus.stream_name())
            .await
            .expect("delete stream");
    }
}

/// Outbox: an oversized row, a revocation, an oversized revocation, an ordinary row. The revocation
/// overtakes the held rows; the oversized row dies after 3 tries, the oversized revocation after 5;
/// then the ordinary row goes out, and both deaths are announced.
async fn refused_rows_are_dead_lettered(backend: Backend) {
    let (bus, client) = nats_bus(&nats_url()).await;
    let too_big = client.client().server_info().max_payload;
    let (outbox, _db) = outbox(backend).await;
    let big = oversized(event(1), too_big);
    let revoked = revocation(2);
    let big_revoked = oversized(revocation(3), too_big);
    let next = event(4);
    let recorded = Recorded::default();
    let consumer = spawn_recorder(&bus, "dead-relay", EventFilter::all(), &recorded);
    enqueue(
        &outbox,
        &[big.clone(), revoked.clone(), big_revoked.clone(), next.clone()],
    )
    .await;
    let relay = spawn_relay(&outbox, &bus);
    recorded.wait_for(4).await;
    relay.stop().await;
    consumer.stop().await;

    let seen = recorded.events();
    assert_eq!(
        ids(&seen[..2]),
        ids(&[revoked, next]),
        "the revocation first, then the row behind the dead ones"
    );
    let announced = announcements(&seen[2..]);
    let deaths: Vec<(String, String, String, String, u32)> = announced
        .into_iter()
        .map(|a| (a.event_id, a.event_type, a.account, a.location, a.tries))
        .collect();
    let relay_location = "relay:/latchkey/test".to_owned();
    assert_eq!(
        deaths,
        [
            (
                big.id.clone(),
                "account.created".into(),
                "acct_test".into(),
                relay_location.clone(),
                3
            ),
            (
                big_revoked.id.clone(),
                "token.revoked".into(),
                "acct_test".into(),
                relay_location.clone(),
                5
            ),
        ]
    );
    for announcement in &seen[2..] {
        assert!(
            announcement.data.get("padding").is_none(),
            "never the dead event's data"
        );
    }
    let letters = DeadLetters::open(outbox.db().clone()).await.expect("open dead letters");
    let letters = letters.list().await.expect("list dead letters");
    assert_eq!(letters.len(), 2);
    for (letter, (id, tries)) in letters.iter().zip([(&big.id, 3), (&big_revoked.id, 5)]) {
        assert_eq!(
            (&letter.event_id, letter.tries, &letter.location),
            (id, tries, &relay_location)
        );
        assert!(letter.last_error.contains("max payload"), "{}", letter.last_error);
        assert_eq!(
            letter.envelope().map(|event| event.id),
            Some(id.clone()),
            "the envelope is kept"
        );
    }
    assert_eq!(outbox.pending().await.expect("count outbox"), 0);
    delete_stream(&bus).await;
}

#[tokio::test]
async fn sqlite_relay_dead_letters_refused_rows_and_lets_revocations_go_first() {
    refused_rows_are_dead_lettered(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_relay_dead_letters_refused_rows_and_lets_revocations_go_first() {
    refused_rows_are_dead_lettered(Backend::Postgres).await;
}

/// A refused row with a budget it will not use up soon holds the ordinary row behind it, but not
/// the revocation: that one is published while the refused row is still held.
#[tokio::test]
async fn revocations_overtake_a_held_row() {
    let (bus, client) = nats_bus(&nats_url()).await;
    let bus = bus.with_config(EventsConfig {
        relay_max_attempts: 1000,
        ..limits()
    });
    let (outbox, _db) = outbox(Backend::Sqlite).await;
    let big = oversized(event(1), client.client().server_info().max_payload);
    let (next, revoked) = (event(2), revocation(3));
    let recorded = Recorded::default();
    let consumer = spawn_recorder(&bus, "overtake", EventFilter::all(), &recorded);
    enqueue(&outbox, &[big, next, revoked.clone()]).await;
    let relay = spawn_relay(&outbox, &bus);
    recorded.wait_for(1).await;
    relay.stop().await;
    consumer.stop().await;
    assert_eq!(recorded.ids(), [revoked.id]);
    assert_eq!(
        outbox.pending().await.expect("count outbox"),
        2,
        "the held row and the one behind it"
    );
    delete_stream(&bus).await;
}

/// With a budget of one try, a broker that cannot store anything (its stream is gone) still costs
/// the row nothing, while a row it refuses is dead-lettered at once. `run_relay` with a shutdown
/// that has already happened makes exactly two rounds (one, then the drain), so no waiting.
#[tokio::test]
async fn an_outage_counts_against_no_row() {
    let (bus, client) = nats_bus(&nats_url()).await;
    let bus = bus.with_config(EventsConfig {
        relay_max_attempts: 1,
        ..limits()
    });
    let (outbox, _db) = outbox(Backend::Sqlite).await;
    let letters = DeadLetters::open(outbox.db().clone()).await.expect("open dead letters");
    let first = event(1);
    let big = oversized(event(2), client.client().server_info().max_payload);
    enqueue(&outbox, &[first.clone(), big.clone()]).await;

    delete_stream(&bus).await;
    run_relay(outbox.clone(), bus.clone(), async {}).await;
    assert_eq!(outbox.pending().await.expect("count outbox"), 2, "nothing published");
    assert!(
        letters.list().await.expect("list").is_empty(),
        "and nothing dead-lettered"
    );

    let EventBus::Nats(nats) = &bus else {
        unreachable!("a NATS bus")
    };
    let restored = EventBus::nats(client, nats.prefix()).await.expect("the stream again");
    let bus = restored.with_config(EventsConfig {
        relay_max_attempts: 1,
        ..limits()
    });
    run_relay(outbox.clone(), bus.clone(), async {}).await;
    let dead = letters.list().await.expect("list");
    assert_eq!(
        dead.iter()
            .map(|letter| (&letter.event_id, letter.tries))
            .collect::<Vec<_>>(),
        [(&big.id, 1)]
    );
    assert_eq!(
        outbox.pending().await.expect("count outbox"),
        0,
        "the first row and the announcement went out"
    );
    delete_stream(&bus).await;
}

/// A row over a small `max_payload` dies and the next one goes out; the operator raises the limit and
/// retries the dead letter: it is back on the outbox, out of the dead letters, and delivered.
async fn retried_dead_letter_is_delivered(backend: Backend) {
    let mut server = NatsServer::spawn_with_max_payload(64 * 1024).await;
    let (bus, client) = nats_bus(&server.url()).await;
    let (outbox, _db) = outbox(backend).await;
    let big = oversized(event(1), 100 * 1024);
    let next = event(2);
    let recorded = Recorded::default();
    let consumer = spawn_recorder(&bus, "dead-retry", EventFilter::all(), &recorded);
    let relay = spawn_relay(&outbox, &bus);
    enqueue(&outbox, &[big.clone(), next.clone()]).await;
    recorded.wait_for(2).await;
    assert_eq!(recorded.ids()[0], next.id);
    let letters = DeadLetters::open(outbox.db().clone()).await.expect("open dead letters");
    let dead = letters.list().await.expect("list");
    assert_eq!(dead.len(), 1);

    server.stop();
    server.set_max_payload(1024 * 1024);
    server.start().await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while client.client().server_info().max_payload != 1024 * 1024 {
        assert!(tokio::time::Instant::now() < deadline, "the client never reconnected");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let retried = letters.retry(&dead[0].id).await.expect("retry");
    assert_eq!(retried, Retried::Outbox("/latchkey/test".into()));
    assert!(letters.list().await.expect("list").is_empty());
    recorded.wait_for(3).await;
    assert_eq!(recorded.ids()[2], big.id);
    relay.stop().await;
    consumer.stop().await;
    assert_eq!(outbox.pending().await.expect("count outbox"), 0);
}

#[tokio::test]
async fn sqlite_retried_relay_dead_letter_is_delivered() {
    retried_dead_letter_is_delivered(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_retried_relay_dead_letter_is_delivered() {
    retried_dead_letter_is_delivered(Backend::Postgres).await;
}
