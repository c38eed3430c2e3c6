//! Without a vault the audit service holds no checkpoint key: it never makes one in plaintext, and
//! it refuses to run (the mesh always gives it the vault; only these tests build it alone).

use latchkey_audit::AuditError;
use latchkey_events::EventBus;
use latchkey_storage::{Backend, Db, sqlx};
use latchkey_test_support::TestDatabase;
use tokio_util::sync::CancellationToken;

use crate::support::open_audit;

#[tokio::test]
async fn without_a_vault_no_checkpoint_key_is_made_and_the_service_does_not_run() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let database = TestDatabase::new(backend).await;
        let audit = open_audit(database.url()).await;
        assert!(audit.checkpoint_jwks().is_empty());
        assert!(matches!(audit.open_checkpoint_keys().await, Err(AuditError::NoVault)));
        let bus_database = TestDatabase::sqlite();
        let bus = EventBus::local(Db::connect(bus_database.url()).await.unwrap())
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ran = audit.run(listener, bus, CancellationToken::new()).await;
        assert!(matches!(ran, Err(AuditError::NoVault)), "{ran:?}");
        let db = Db::connect(database.url()).await.unwrap();
        let (keys,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_signing_keys")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(keys, 0, "no key, sealed or not");
    }
}
