//! Fixtures shared by the tests: events, an outbox, and a consumer that records what it handled
//! (the buses themselves are `latchkey_test_support::TestBus`).

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use latchkey_events::{
    Envelope, EventBus, EventFilter, NatsBus, NatsConnection, Outbox,
    catalogue::{AccountCreated, ApiKeyDeleted},
    run_batch_consumer, run_consumer, run_relay,
};
use latchkey_storage::{Backend, Db};
use latchkey_test_support::{NatsServer, TcpProxy, TestBus, TestDatabase, read_until};
use tokio::{sync::oneshot, task::JoinHandle};

/// How long any awaited condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The `n`th test event, of type `account.created`.
pub fn event(n: usize) -> Envelope {
    let payload = AccountCreated {
        account_id: format!("acct_{n}"),
        name: format!("account {n}"),
    };
    Envelope::new("/latchkey/test", "acct_test", Some("system"), &payload)
}

/// The `n`th test event of another type, `api_key.deleted`.
pub fn deleted_key(n: usize) -> Envelope {
    let payload = ApiKeyDeleted {
        key_id: format!("key_{n}"),
        secret_hash: format!("{n:064x}"),
    };
    Envelope::new("/latchkey/test", "acct_test", None, &payload)
}

pub fn events(count: usize) -> Vec<Envelope> {
    (0..count).map(event).collect()
}

pub fn ids(events: &[Envelope]) -> Vec<String> {
    events.iter().map(|event| event.id.clone()).collect()
}

/// An outbox in a fresh database of `backend`.
pub async fn outbox(backend: Backend) -> (Outbox, TestDatabase) {
    let db = TestDatabase::new(backend).await;
    let outbox = Outbox::open(Db::connect(db.url()).await.expect("connect"), "/latchkey/test")
        .await
        .expect("open outbox");
    (outbox, db)
}

/// Enqueues `events` in one committed transaction.
pub async fn enqueue(outbox: &Outbox, events: &[Envelope]) {
    let mut tx = outbox.db().begin_write().await.expect("begin");
    for event in events {
        outbox.enqueue(&mut tx, event).await.expect("enqueue");
    }
    outbox.commit(tx).await.expect("commit");
}

/// A spawned task that runs until `stop`.
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    pub fn new(stop: oneshot::Sender<()>, task: JoinHandle<()>) -> Self {
        Self { stop: Some(stop), task }
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(DEADLINE, &mut self.task)
            .await
            .expect("task stops in time")
            .expect("task did not panic");
    }
}

pub fn stop_signal() -> (oneshot::Sender<()>, impl Future<Output = ()> + Send + 'static) {
    let (stop, stopped) = oneshot::channel::<()>();
    (stop, async move {
        let _ = stopped.await;
    })
}

pub fn spawn_relay(outbox: &Outbox, bus: &EventBus) -> Running {
    let (stop, stopped) = stop_signal();
    let task = tokio::spawn(run_relay(outbox.clone(), bus.clone(), stopped));
    Running { stop: Some(stop), task }
}

/// What a recording consumer saw: every successful handling, in order.
#[derive(Clone, Default)]
pub struct Recorded(Arc<Mutex<Vec<Envelope>>>);

impl Recorded {
    pub fn push(&self, event: Envelope) {
        self.0.lock().expect("lock").push(event);
    }

    pub fn ids(&self) -> Vec<String> {
        ids(&self.0.lock().expect("lock"))
    }

    pub fn len(&self) -> usize {
        self.0.lock().expect("lock").len()
    }

    pub fn events(&self) -> Vec<Envelope> {
        self.0.lock().expect("lock").clone()
    }

    /// Waits until at least `count` events were recorded.
    pub async fn wait_for(&self, count: usize) {
        let recorded = read_until(DEADLINE, || async { self.len() }, |len| *len >= count).await;
        assert!(
            recorded >= count,
            "timed out waiting for {count} events, have {recorded}"
        );
    }
}

/// Runs the durable consumer `name`, recording every event it handles.
pub fn spawn_recorder(bus: &EventBus, name: &str, filter: EventFilter, recorded: &Recorded) -> Running {
    let recorded = recorded.clone();
    let handler = move |event: Envelope| {
        let recorded = recorded.clone();
        async move {
            recorded.push(event);
            Ok::<(), String>(())
        }
    };
    let (stop, stopped) = stop_signal();
    let task = tokio::spawn(run_consumer(bus.clone(), name.to_owned(), filter, handler, stopped));
    Running { stop: Some(stop), task }
}

/// A test's own broker, a bus on it, and a second bus under the same prefix whose connection goes
/// through a proxy the test cuts.
pub struct CutOff {
    _server: NatsServer,
    pub direct: TestBus,
    pub proxy: TcpProxy,
    pub behind_proxy: EventBus,
}

impl CutOff {
    pub async fn new() -> Self {
        let server = NatsServer::spawn().await;
        let direct = TestBus::nats(&server.url()).await;
        let proxy = TcpProxy::start(([127, 0, 0, 1], server.port()).into()).await;
        let connection = NatsConnection::connect(proxy.nats_url(), async_nats::ConnectOptions::new())
            .await
            .expect("connect through the proxy");
        let prefix = Self::nats_of(&direct).prefix().to_owned();
        let behind_proxy = EventBus::nats(connection, &prefix).await.expect("bus behind the proxy");
        Self {
            _server: server,
            direct,
            proxy,
            behind_proxy,
        }
    }

    /// The direct bus's NATS side, for what only JetStream can tell.
    pub fn direct_nats(&self) -> &NatsBus {
        Self::nats_of(&self.direct)
    }

    fn nats_of(bus: &TestBus) -> &NatsBus {
        let EventBus::Nats(nats) = &bus.bus else {
            unreachable!("a NATS test bus")
        };
        nats
    }
}

/// Every batch a consumer was handed, in order, whether its handler then succeeded or not.
#[derive(Clone, Default)]
pub struct Batches(Arc<Mutex<Vec<HandedBatch>>>);

/// One batch's event ids, and whether its handler failed.
type HandedBatch = (Vec<String>, bool);

impl Batches {
    /// Records a batch handed to a handler, and whether the handler failed it.
    pub fn push(&self, events: &[Envelope], failed: bool) {
        self.0.lock().expect("lock").push((ids(events), failed));
    }

    /// Every batch handed over, as event ids.
    pub fn all(&self) -> Vec<Vec<String>> {
        self.0
            .lock()
            .expect("lock")
            .iter()
            .map(|(ids, _)| ids.clone())
            .collect()
    }

    /// The ids of every event in a batch whose handler succeeded.
    pub fn handled(&self) -> HashSet<String> {
        let batches = self.0.lock().expect("lock");
        batches
            .iter()
            .filter(|(_, failed)| !failed)
            .flat_map(|(ids, _)| ids.iter().cloned())
            .collect()
    }

    /// How many events the batches hold in all.
    pub fn events(&self) -> usize {
        self.0.lock().expect("lock").iter().map(|(ids, _)| ids.len()).sum()
    }

    /// Waits until the batches hold at least `count` events in all.
    pub async fn wait_for_events(&self, count: usize) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while self.events() < count {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {count} events, have {}",
                self.events()
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

/// Runs the batch consumer `name`; the handler records each batch and fails when `fail` says so.
pub fn spawn_batch_recorder(
    bus: &EventBus,
    name: &str,
    max_batch: usize,
    handed: &Batches,
    fail: impl Fn(&[Envelope]) -> bool + Send + 'static,
) -> Running {
    let handed = handed.clone();
    let handler = move |events: Vec<Envelope>| {
        let failed = fail(&events);
        handed.push(&events, failed);
        async move {
            if failed {
                Err("simulated handler failure")
            } else {
                Ok(())
            }
        }
    };
    let (stop, stopped) = stop_signal();
    let task = tokio::spawn(run_batch_consumer(
        bus.clone(),
        name.to_owned(),
        EventFilter::all(),
        max_batch,
        handler,
        stopped,
    ));
    Running::new(stop, task)
}
