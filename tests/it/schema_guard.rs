//! An older build against a newer schema: it runs beside additive migrations (a rolling deploy)
//! and refuses to start once a breaking one is applied, on both backends; and a service refuses
//! with the reason in words.

use latchkey_storage::{Backend, Db, Migration, StorageError, sqlx};
use latchkey_test_support::TestDatabase;

const fn migration(version: i64, sql: &'static str, breaking: bool) -> Migration {
    Migration {
        version,
        name: "test",
        sqlite: sql,
        postgres: sql,
        breaking,
    }
}

const TABLE: Migration = migration(1, "CREATE TABLE guarded (id TEXT PRIMARY KEY)", false);
const ADD_COLUMN: Migration = migration(2, "ALTER TABLE guarded ADD COLUMN note TEXT", false);
const RENAME: Migration = migration(3, "ALTER TABLE guarded RENAME COLUMN note TO remark", true);
const ADD_ANOTHER: Migration = migration(4, "ALTER TABLE guarded ADD COLUMN extra TEXT", false);

async fn an_older_build_runs_beside_additive_migrations_and_not_past_a_breaking_one(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let db = Db::connect(database.url()).await.unwrap();

    db.migrate("guarded", &[TABLE, ADD_COLUMN]).await.unwrap();
    // The build that knows only the first: the second is additive, so it starts.
    db.migrate("guarded", &[TABLE])
        .await
        .expect("an additive migration ahead is no reason to stop");

    db.migrate("guarded", &[TABLE, ADD_COLUMN, RENAME, ADD_ANOTHER])
        .await
        .unwrap();
    for older in [&[TABLE][..], &[TABLE, ADD_COLUMN][..]] {
        match db.migrate("guarded", older).await {
            Err(StorageError::SchemaAhead {
                service,
                database_version,
                known_version,
                breaking_version,
            }) => {
                assert_eq!(service, "guarded");
                assert_eq!(database_version, 4);
                assert_eq!(known_version, older.len() as i64);
                assert_eq!(breaking_version, 3);
            }
            other => panic!("an older build started past a breaking migration: {other:?}"),
        }
    }
    // The build that applied the breaking one (and any newer) still starts; other services'
    // versions in the same database are their own.
    db.migrate("guarded", &[TABLE, ADD_COLUMN, RENAME]).await.unwrap();
    db.migrate("another", &[migration(1, "CREATE TABLE another (id TEXT)", false)])
        .await
        .unwrap();
}

/// Whether a session of `url`'s database holds the migration lock, asked from a thread of its own
/// while the caller's waits for it, as a process blocked on a child process waits: nothing of the
/// caller's runtime runs meanwhile (no deferred rollback on a returned connection, say).
fn migration_lock_held(url: &str) -> bool {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let db = Db::connect(&url).await.unwrap();
            let held: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 7436101 AND granted \
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            )
            .fetch_one(db.pool())
            .await
            .unwrap();
            db.close().await;
            held > 0
        })
    })
    .join()
    .unwrap()
}

/// A service starting finds its migrations applied (every start but the first), or refuses a newer
/// schema; either way the lock that serialises migrations is free when it returns. It was not when
/// the already-applied ones were left to a dropped transaction's rollback: `latchkey migrate` run
/// after a service had started in the same test waited for that lock for ever.
#[tokio::test]
async fn migrations_found_applied_or_refused_leave_the_migration_lock_free() {
    let database = TestDatabase::new(Backend::Postgres).await;
    let db = Db::connect(database.url()).await.unwrap();
    db.migrate("guarded", &[TABLE, ADD_COLUMN]).await.unwrap();
    assert!(!migration_lock_held(database.url()), "after applying");
    db.migrate("guarded", &[TABLE, ADD_COLUMN]).await.unwrap();
    assert!(!migration_lock_held(database.url()), "after finding every one applied");
    db.migrate("guarded", &[TABLE, ADD_COLUMN, RENAME]).await.unwrap();
    assert!(db.migrate("guarded", &[TABLE]).await.is_err());
    assert!(!migration_lock_held(database.url()), "after refusing a newer schema");
}

#[tokio::test]
async fn schema_guard_on_sqlite() {
    an_older_build_runs_beside_additive_migrations_and_not_past_a_breaking_one(Backend::Sqlite).await;
}

#[tokio::test]
async fn schema_guard_on_postgres() {
    an_older_build_runs_beside_additive_migrations_and_not_past_a_breaking_one(Backend::Postgres).await;
}

#[test]
fn the_refusal_says_why_and_what_to_do() {
    let error = StorageError::SchemaAhead {
        service: "policy".to_owned(),
        database_version: 9,
        known_version: 7,
        breaking_version: 8,
    };
    let text = error.to_string();
    assert!(
        text.contains("policy") && text.contains("migration 9") && text.contains("8 is marked breaking"),
        "{text}"
    );
}
