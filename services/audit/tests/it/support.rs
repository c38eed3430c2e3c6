//! Fixtures: token events, failures injected into the audit database, and the audit consumer on a
//! runtime of its own that can be killed.

use std::time::Duration;

use latchkey_audit::{Audit, ChainEntry};
use latchkey_events::{Envelope, catalogue::TokenIssued};
use latchkey_ids::AccountId;
use latchkey_server::MeshAuth;
use latchkey_storage::{Db, sqlx};
use latchkey_test_support::{RunningConsumer, nats_bus, read_until};

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

/// `id` as an account id.
pub fn account(id: &str) -> AccountId {
    AccountId::parse(id).expect("an account id")
}

pub fn ids(events: &[Envelope]) -> Vec<String> {
    events.iter().map(|event| event.id.clone()).collect()
}

pub async fn open_audit(url: &str) -> Audit {
    Audit::open(
        Db::connect(url).await.expect("open the audit database"),
        MeshAuth::new(MESH_TOKEN),
    )
    .await
    .expect("open the audit service")
}

/// Reads `account`'s chain until it holds `count` entries or the deadline passes; answers it.
pub async fn chain_once(audit: &Audit, account: &str, count: usize) -> Vec<ChainEntry> {
    read_until(
        DEADLINE,
        || async { audit.chain_of(&self::account(account)).await.expect("read the chain") },
        |chain| chain.len() >= count,
    )
    .await
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

/// The audit consumer on a runtime of its own, with its own database pool and NATS connection,
/// consuming under `prefix`.
pub fn start_consumer(database_url: &str, nats_url: &str, prefix: &str) -> RunningConsumer {
    let (database_url, nats_url, prefix) = (database_url.to_owned(), nats_url.to_owned(), prefix.to_owned());
    RunningConsumer::start(|stop| async move {
        let audit = open_audit(&database_url).await;
        let bus = nats_bus(&nats_url, &prefix).await;
        audit.consume(bus, stop).await;
    })
}
