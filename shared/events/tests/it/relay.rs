//! Outbox → relay → bus → durable consumer, on every combination of outbox backend and bus.

use latchkey_events::{EventBus, EventFilter};
use latchkey_storage::{Backend, Db};
use latchkey_test_support::{BusKind, TestBus, TestDatabase};

use crate::support::{Recorded, enqueue, events, ids, outbox, spawn_recorder, spawn_relay};

/// Enqueues two transactions' worth of events and checks the consumer gets exactly those, in
/// order, and that the relay emptied the outbox.
async fn relays_in_order(backend: Backend, bus: &EventBus) {
    let (outbox, _db) = outbox(backend).await;
    let relay = spawn_relay(&outbox, bus);
    let recorded = Recorded::default();
    let consumer = spawn_recorder(bus, "relay-test", EventFilter::all(), &recorded);

    let sent = events(300);
    enqueue(&outbox, &sent[..120]).await;
    enqueue(&outbox, &sent[120..]).await;
    recorded.wait_for(sent.len()).await;

    assert_eq!(recorded.ids(), ids(&sent));
    consumer.stop().await;
    relay.stop().await;
    assert_eq!(outbox.pending().await.expect("count outbox"), 0);
}

#[tokio::test]
async fn sqlite_outbox_to_local_bus() {
    let bus = TestBus::new(BusKind::Local).await;
    relays_in_order(Backend::Sqlite, &bus.bus).await;
}

#[tokio::test]
async fn postgres_outbox_to_local_bus_on_postgres() {
    let db = TestDatabase::postgres().await;
    let bus = EventBus::local(Db::connect(db.url()).await.expect("connect"))
        .await
        .expect("local bus");
    relays_in_order(Backend::Postgres, &bus).await;
}

#[tokio::test]
async fn sqlite_outbox_to_nats() {
    let bus = TestBus::new(BusKind::Nats).await;
    relays_in_order(Backend::Sqlite, &bus.bus).await;
    bus.cleanup().await;
}

#[tokio::test]
async fn postgres_outbox_to_nats() {
    let bus = TestBus::new(BusKind::Nats).await;
    relays_in_order(Backend::Postgres, &bus.bus).await;
    bus.cleanup().await;
}

/// A rolled-back transaction leaves nothing in the outbox, so nothing reaches the consumer: the
/// marker event committed after it is the only one that arrives.
async fn rolled_back_enqueues_nothing(backend: Backend) {
    let bus = TestBus::new(BusKind::Local).await;
    let (outbox, _db) = outbox(backend).await;
    let sent = events(3);

    let mut tx = outbox.db().begin_write().await.expect("begin");
    outbox.enqueue(&mut tx, &sent[0]).await.expect("enqueue");
    outbox.enqueue(&mut tx, &sent[1]).await.expect("enqueue");
    tx.rollback().await.expect("rollback");
    assert_eq!(outbox.pending().await.expect("count outbox"), 0);

    let relay = spawn_relay(&outbox, &bus.bus);
    let recorded = Recorded::default();
    let consumer = spawn_recorder(&bus.bus, "rollback-test", EventFilter::all(), &recorded);
    enqueue(&outbox, &sent[2..]).await;
    recorded.wait_for(1).await;

    assert_eq!(recorded.ids(), ids(&sent[2..]));
    consumer.stop().await;
    relay.stop().await;
}

#[tokio::test]
async fn rolled_back_transaction_enqueues_nothing_on_sqlite() {
    rolled_back_enqueues_nothing(Backend::Sqlite).await;
}

#[tokio::test]
async fn rolled_back_transaction_enqueues_nothing_on_postgres() {
    rolled_back_enqueues_nothing(Backend::Postgres).await;
}
