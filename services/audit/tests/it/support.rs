//! Fixtures: token events, a JetStream bus on a server of the test's own, failures injected into
//! the audit database, and the audit consumer on a runtime of its own that can be killed.

use std::time::Duration;

use latchkey_audit::{Audit, ChainEntry};
use latchkey_events::{Envelope, EventBus, NatsConnection, catalogue::TokenIssued, testing::unique_prefix};
use latchkey_server::MeshAuth;
use latchkey_storage::{Db, sqlx};
use tokio_util::sync::CancellationToken;

/// How long any awaited condition may take. A batch whose consumer crashed comes back after
/// JetStream's 30 s ack wait, so this leaves room for that.
pub const DEADLINE: Duration = Duration::from_secs(90);

pub const MESH_TOKEN: &str = "audit-test-service-token-0123456789";

/// `count` token.issued events of `account`, in publish order.
pub fn token_events(account: &str, count: usize) -> Vec<Envelope> {
    (0..count)
        .map(|n| {
            let event = TokenIssued {
                jti: format!("jti-{n}-{}", uuid::Uuid::now_v7().simple()),
                agent_id: "agt_audit_test".to_owned(),
                scope: vec!["secrets.read".to_owned()],
                audience: "https://api.example.com".to_owned(),
                expires_at: 1_900_000_000,
                intent: None,
                delegated_from: None,
            };
            Envelope::new("/latchkey/test", account, Some("key_test"), &event)
        })
        .collect()
}

pub fn ids(events: &[Envelope]) -> Vec<String> {
    events.iter().map(|event| event.id.clone()).collect()
}

/// A JetStream bus under `prefix` on the server at `url`.
pub async fn nats_bus(url: &str, prefix: &str) -> EventBus {
    let connection = NatsConnection::connect(url, async_nats::ConnectOptions::new().retry_on_initial_connect())
        .await
        .expect("connect to NATS");
    EventBus::nats(connection, prefix).await.expect("NATS bus")
}

/// A fresh subject prefix.
pub fn prefix() -> String {
    unique_prefix()
}

pub async fn open_audit(url: &str) -> Audit {
    Audit::open(
        Db::connect(url).await.expect("open the audit database"),
        MeshAuth::new(MESH_TOKEN),
    )
    .await
    .expect("open the audit service")
}

/// Polls `account`'s chain until it holds `count` entries or the deadline passes; answers it.
pub async fn chain_once(audit: &Audit, account: &str, count: usize) -> Vec<ChainEntry> {
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let chain = audit.chain_of(account).await.expect("read the chain");
        if chain.len() >= count || tokio::time::Instant::now() > until {
            return chain;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Makes the insert of `event_id` into the chain run `action` (PL/pgSQL) the first `times` times it
/// is tried, counting tries in a sequence `test_tries` that a rollback does not undo.
pub async fn on_insert_of(db: &Db, event_id: &str, times: i64, action: &str) {
    sqlx::query("CREATE SEQUENCE test_tries")
        .execute(db.pool())
        .await
        .expect("create sequence");
    let function = format!(
        "CREATE FUNCTION test_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         IF NEW.event_id = '{event_id}' AND nextval('test_tries') <= {times} THEN {action}; END IF; \
         RETURN NEW; END $$"
    );
    sqlx::query(sqlx::AssertSqlSafe(function))
        .execute(db.pool())
        .await
        .expect("create trigger function");
    sqlx::query(
        "CREATE TRIGGER test_on_insert BEFORE INSERT ON audit_entries FOR EACH ROW EXECUTE FUNCTION test_on_insert()",
    )
    .execute(db.pool())
    .await
    .expect("create trigger");
}

/// How many times the insert watched by [`on_insert_of`] was tried.
pub async fn tries(db: &Db) -> i64 {
    let (last, called): (i64, bool) = sqlx::query_as("SELECT last_value, is_called FROM test_tries")
        .fetch_one(db.pool())
        .await
        .expect("read the sequence");
    if called { last } else { 0 }
}

/// The audit consumer on a runtime of its own.
pub struct RunningConsumer {
    runtime: Option<tokio::runtime::Runtime>,
    shutdown: CancellationToken,
}

impl RunningConsumer {
    /// Starts `Audit::consume` on a new runtime, with its own database pool and NATS connection.
    pub fn start(database_url: &str, nats_url: &str, prefix: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let shutdown = CancellationToken::new();
        let (database_url, nats_url, prefix, stop) = (
            database_url.to_owned(),
            nats_url.to_owned(),
            prefix.to_owned(),
            shutdown.clone(),
        );
        runtime.spawn(async move {
            let audit = open_audit(&database_url).await;
            let bus = nats_bus(&nats_url, &prefix).await;
            audit.consume(bus, stop).await;
        });
        Self {
            runtime: Some(runtime),
            shutdown,
        }
    }

    /// Kills the consumer: its runtime is dropped with every task wherever it stands (mid-batch,
    /// mid-transaction), as a crash would. Nothing is settled with the bus.
    pub fn kill(mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for RunningConsumer {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
