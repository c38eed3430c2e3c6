//! Consumers' dead letters, on the in-process bus and JetStream, with the dead letters in SQLite
//! and PostgreSQL: an event the handler always fails on is dead-lettered after its budget and
//! announced, the events after it are handled, and a retried dead letter is handed to the handler.
//! A batch consumer finds the failing event of a batch and dead-letters it alone.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use latchkey_events::{DeadLetters, Envelope, EventBus, EventFilter, dead_letter::Retried, run_consumer};
use latchkey_storage::{Backend, Db};
use latchkey_test_support::{BusKind, TestBus, TestDatabase, eventually};

use crate::{
    dead_relay::{announcements, limits},
    support::{
        Batches, DEADLINE, Recorded, Running, deleted_key, event, events, ids, spawn_batch_recorder, stop_signal,
    },
};

/// A bus with the test budgets, and the dead letters its consumers write: the in-process bus's own
/// database, or for JetStream a database of `backend`.
struct DeadLetterBus {
    bus: EventBus,
    letters: DeadLetters,
    test: TestBus,
    _db: Option<TestDatabase>,
}

impl DeadLetterBus {
    async fn new(kind: BusKind, backend: Backend) -> Self {
        let test = TestBus::new(kind).await;
        let bus = test.bus.clone().with_config(limits());
        if let EventBus::Local(local) = &bus {
            let letters = DeadLetters::open(local.db().clone()).await.expect("dead letters");
            return Self {
                bus,
                letters,
                test,
                _db: None,
            };
        }
        let db = TestDatabase::new(backend).await;
        let connected = Db::connect(db.url()).await.expect("connect");
        let bus = bus.with_dead_letters(connected.clone()).await.expect("dead letters");
        let letters = DeadLetters::open(connected).await.expect("dead letters");
        Self {
            bus,
            letters,
            test,
            _db: Some(db),
        }
    }

    async fn wait_until_no_dead_letters(&self) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while !self.letters.list().await.expect("list").is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "the dead letter stayed");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// Runs the consumer `name`, recording what it handled; it fails on `poison` until `healed`.
fn spawn_failing(bus: &EventBus, name: &str, poison: &str, healed: &Arc<AtomicBool>, recorded: &Recorded) -> Running {
    let (poison, healed, recorded) = (poison.to_owned(), healed.clone(), recorded.clone());
    let handler = move |event: Envelope| {
        let fails = event.id == poison && !healed.load(Ordering::SeqCst);
        let recorded = recorded.clone();
        async move {
            if fails {
                return Err("simulated handler failure: poison");
            }
            recorded.push(event);
            Ok(())
        }
    };
    let (stop, stopped) = stop_signal();
    let task = tokio::spawn(run_consumer(
        bus.clone(),
        name.to_owned(),
        EventFilter::all(),
        handler,
        stopped,
    ));
    Running::new(stop, task)
}

/// `poison` fails every time: after its budget (`tries`) it is dead-lettered and announced, and the
/// event after it is handled; healed and retried, it is handled and leaves the dead letters.
async fn poison_is_dead_lettered(kind: BusKind, backend: Backend, poison: Envelope, tries: u32) {
    let test = DeadLetterBus::new(kind, backend).await;
    let sent = [event(0), poison.clone(), event(2)];
    test.bus.publish(&sent).await.expect("publish");
    let healed = Arc::new(AtomicBool::new(false));
    let recorded = Recorded::default();
    let consumer = spawn_failing(&test.bus, "dead-consumer", &poison.id, &healed, &recorded);
    recorded.wait_for(3).await;

    let seen = recorded.events();
    assert_eq!(ids(&seen[..2]), ids(&[sent[0].clone(), sent[2].clone()]));
    let announced = announcements(&seen[2..]);
    assert_eq!(announced.len(), 1);
    assert_eq!(
        (&announced[0].event_id, &announced[0].event_type, announced[0].tries),
        (&poison.id, &poison.event_type, tries)
    );
    assert_eq!(announced[0].location, "consumer:dead-consumer");
    assert_eq!(
        seen[2].account, poison.account,
        "announced under the dead event's account"
    );
    let dead = test.letters.list().await.expect("list");
    assert_eq!(dead.len(), 1);
    assert_eq!((&dead[0].event_id, dead[0].tries), (&poison.id, tries));
    assert_eq!(dead[0].last_error, "simulated handler failure: poison");
    assert_eq!(dead[0].location, "consumer:dead-consumer");

    healed.store(true, Ordering::SeqCst);
    let retried = test.letters.retry(&dead[0].id).await.expect("retry");
    assert_eq!(retried, Retried::Consumer("dead-consumer".into()));
    recorded.wait_for(4).await;
    assert_eq!(recorded.ids()[3], poison.id);
    test.wait_until_no_dead_letters().await;
    consumer.stop().await;
    test.test.cleanup().await;
}

#[tokio::test]
async fn local_consumer_dead_letters_a_poison_event() {
    poison_is_dead_lettered(BusKind::Local, Backend::Sqlite, event(1), 3).await;
}

#[tokio::test]
async fn local_postgres_consumer_dead_letters_a_poison_event() {
    poison_is_dead_lettered(BusKind::LocalPostgres, Backend::Postgres, event(1), 3).await;
}

#[tokio::test]
async fn nats_consumer_dead_letters_a_poison_event_in_sqlite() {
    poison_is_dead_lettered(BusKind::Nats, Backend::Sqlite, event(1), 3).await;
}

#[tokio::test]
async fn nats_consumer_dead_letters_a_poison_event_in_postgres() {
    poison_is_dead_lettered(BusKind::Nats, Backend::Postgres, event(1), 3).await;
}

#[tokio::test]
async fn a_revocation_gets_the_larger_budget() {
    poison_is_dead_lettered(BusKind::Local, Backend::Sqlite, deleted_key(1), 5).await;
}

/// Batches of 8 over 20 events, event 10 always failing: the batch holding it is taken apart, event
/// 10 is dead-lettered after its own 3 tries, and every other event is handled.
async fn batch_consumer_dead_letters_the_failing_event(kind: BusKind) {
    let test = DeadLetterBus::new(kind, Backend::Sqlite).await;
    let sent = events(20);
    test.bus.publish(&sent).await.expect("publish");
    let poison = sent[10].id.clone();
    let handed = Batches::default();
    let consumer = spawn_batch_recorder(&test.bus, "dead-batch", 8, &handed, move |events| {
        events.iter().any(|event| event.id == poison)
    });
    // Every event but the poison, and the announcement of its death.
    let all_handled = eventually(DEADLINE, || async { handed.handled().len() >= sent.len() }).await;
    assert!(all_handled, "not every event was handled");
    consumer.stop().await;

    let handled = handed.handled();
    let expected: HashSet<String> = ids(&sent).into_iter().filter(|id| *id != sent[10].id).collect();
    assert!(handled.is_superset(&expected) && !handled.contains(&sent[10].id));
    let dead = test.letters.list().await.expect("list");
    assert_eq!(
        dead.iter()
            .map(|letter| (&letter.event_id, letter.tries))
            .collect::<Vec<_>>(),
        [(&sent[10].id, 3)]
    );
    test.test.cleanup().await;
}

#[tokio::test]
async fn local_batch_consumer_dead_letters_the_failing_event() {
    batch_consumer_dead_letters_the_failing_event(BusKind::Local).await;
}

#[tokio::test]
async fn nats_batch_consumer_dead_letters_the_failing_event() {
    batch_consumer_dead_letters_the_failing_event(BusKind::Nats).await;
}
