//! An event bus no other test shares: the in-process bus in a database of its own, or a JetStream
//! stream under a fresh subject prefix on the shared NATS server.

use latchkey_events::{EventBus, NatsConnection};
use latchkey_storage::Db;

use crate::{TestDatabase, nats_url, unique_prefix};

/// Which bus a test runs on.
#[derive(Clone, Copy, Debug)]
pub enum BusKind {
    /// The in-process bus on SQLite.
    Local,
    /// The in-process bus on PostgreSQL.
    LocalPostgres,
    /// JetStream on the shared server ([`nats_url`]).
    Nats,
}

/// A bus and what it needs to live: its database, or its stream (deleted by `cleanup`).
pub struct TestBus {
    pub bus: EventBus,
    _db: Option<TestDatabase>,
}

impl TestBus {
    pub async fn new(kind: BusKind) -> Self {
        match kind {
            BusKind::Local => Self::local(TestDatabase::sqlite()).await,
            BusKind::LocalPostgres => Self::local(TestDatabase::postgres().await).await,
            BusKind::Nats => Self::nats(&nats_url()).await,
        }
    }

    /// The in-process bus, stored in `db`.
    pub async fn local(db: TestDatabase) -> Self {
        let bus = EventBus::local(Db::connect(db.url()).await.expect("open the bus database"))
            .await
            .expect("local bus");
        Self { bus, _db: Some(db) }
    }

    /// A JetStream bus under a fresh prefix on the server at `url`, which must be up: a test
    /// fails at once instead of waiting for a server that is not there.
    pub async fn nats(url: &str) -> Self {
        let connection = NatsConnection::connect(url, async_nats::ConnectOptions::new())
            .await
            .unwrap_or_else(|error| panic!("NATS must run at {url} for tests (see .ci/run): {error}"));
        let bus = EventBus::nats(connection, &unique_prefix()).await.expect("NATS bus");
        Self { bus, _db: None }
    }

    /// Deletes the test's stream from the shared server.
    pub async fn cleanup(self) {
        if let EventBus::Nats(bus) = &self.bus {
            bus.jetstream()
                .delete_stream(bus.stream_name())
                .await
                .expect("delete stream");
        }
    }
}
