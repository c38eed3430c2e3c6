//! Projections on every bus: caught up after the history, current afterwards, and complete after
//! the broker restarts in the middle of it all.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use chrono::DateTime;
use latchkey_events::{Envelope, EventBus, EventFilter, catalogue::ApiKeyCreated, run_projection};
use latchkey_test_support::{BusKind, NatsServer, TestBus};
use tokio::sync::{oneshot, watch};

use crate::support::{DEADLINE, deleted_key, event, events, ids};

/// A projection running on a task: the set of event ids it applied, and whether it caught up.
struct Projection {
    applied: Arc<Mutex<HashSet<String>>>,
    caught_up: watch::Receiver<bool>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Projection {
    fn spawn(bus: &EventBus, filters: Vec<EventFilter>) -> Self {
        let applied = Arc::new(Mutex::new(HashSet::new()));
        let (caught_up_tx, caught_up) = watch::channel(false);
        let (stop, stopped) = oneshot::channel::<()>();
        let apply = {
            let applied = applied.clone();
            move |event: &Envelope| {
                applied.lock().expect("lock").insert(event.id.clone());
            }
        };
        let task = tokio::spawn(run_projection(
            bus.clone(),
            filters,
            DateTime::UNIX_EPOCH,
            apply,
            caught_up_tx,
            async move {
                let _ = stopped.await;
            },
        ));
        Self {
            applied,
            caught_up,
            stop,
            task,
        }
    }

    fn applied(&self) -> HashSet<String> {
        self.applied.lock().expect("lock").clone()
    }

    async fn wait_caught_up(&mut self) {
        tokio::time::timeout(DEADLINE, self.caught_up.wait_for(|caught_up| *caught_up))
            .await
            .expect("caught up in time")
            .expect("projection running");
    }

    /// Waits until every one of `events` was applied.
    async fn wait_applied(&self, events: &[Envelope]) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let applied = self.applied();
            let missing = events.iter().filter(|event| !applied.contains(&event.id)).count();
            if missing == 0 {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{missing} events never applied");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("projection stops in time")
            .expect("projection did not panic");
    }
}

fn created_key(n: usize) -> Envelope {
    let payload = ApiKeyCreated {
        key_id: format!("key_{n}"),
        name: format!("key {n}"),
        prefix: format!("lk_{n}"),
        last4: format!("{n:04}"),
    };
    Envelope::new("/latchkey/test", "acct_test", None, &payload)
}

async fn projection_catches_up_then_follows(kind: BusKind) {
    let test = TestBus::new(kind).await;
    let history = [event(0), deleted_key(1), event(2), deleted_key(3)];
    test.bus.publish(&history).await.expect("publish");
    test.bus.publish(&[created_key(4)]).await.expect("publish");

    let filters = vec![
        EventFilter::event_type("account.created"),
        EventFilter::event_type("api_key.deleted"),
    ];
    let mut projection = Projection::spawn(&test.bus, filters);
    projection.wait_caught_up().await;
    // Caught up means the whole history is applied already, and nothing of other types.
    assert_eq!(projection.applied(), ids(&history).into_iter().collect());

    let later = [created_key(5), deleted_key(6), event(7)];
    test.bus.publish(&later).await.expect("publish");
    projection.wait_applied(&later[1..]).await;
    assert_eq!(projection.applied().len(), history.len() + 2);
    projection.stop().await;
    test.cleanup().await;
}

#[tokio::test]
async fn local_projection_catches_up_then_follows() {
    projection_catches_up_then_follows(BusKind::Local).await;
}

#[tokio::test]
async fn nats_projection_catches_up_then_follows() {
    projection_catches_up_then_follows(BusKind::Nats).await;
}

#[tokio::test]
async fn projection_without_filters_is_caught_up_at_once() {
    let test = TestBus::new(BusKind::Local).await;
    let mut projection = Projection::spawn(&test.bus, Vec::new());
    projection.wait_caught_up().await;
    projection.stop().await;
}

/// Publishes `events`, retrying while the client reconnects to a restarted broker (duplicates
/// are dropped by event id).
async fn publish_until_stored(bus: &EventBus, events: &[Envelope]) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while let Err(err) = bus.publish(events).await {
        assert!(tokio::time::Instant::now() < deadline, "could not publish: {err}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn nats_projection_is_complete_after_a_broker_restart() {
    let mut server = NatsServer::spawn().await;
    let test = TestBus::nats(&server.url()).await;
    let sent = events(3_100);
    for batch in sent[..3_000].chunks(100) {
        test.bus.publish(batch).await.expect("publish");
    }
    let mut projection = Projection::spawn(&test.bus, vec![EventFilter::all()]);
    // Restart the broker as soon as the projection is under way: most likely in the middle of the
    // history, but wherever it falls, every event must end up applied.
    projection.wait_applied(&sent[..1]).await;
    server.stop();
    server.start().await;
    publish_until_stored(&test.bus, &sent[3_000..3_050]).await;
    projection.wait_caught_up().await;
    publish_until_stored(&test.bus, &sent[3_050..]).await;
    projection.wait_applied(&sent).await;
    assert_eq!(projection.applied(), ids(&sent).into_iter().collect());
    projection.stop().await;
}
