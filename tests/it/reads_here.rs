//! Point reads on the calling thread (`Db::read_one_here`, docs/storage.md): on a SQLite file they
//! read what the pool wrote, including what it wrote after the thread's last read; elsewhere they
//! step aside so the caller reads through the pool.

use latchkey_storage::{Backend, Db, sqlx};
use latchkey_test_support::TestDatabase;

const READ: &str = "SELECT name, uses FROM things WHERE account_id = $1 AND id = $2";

async fn things(backend: Backend) -> (TestDatabase, Db) {
    let database = TestDatabase::new(backend).await;
    let db = Db::connect(database.url()).await.unwrap();
    sqlx::query(
        "CREATE TABLE things (account_id TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, uses BIGINT NOT NULL)",
    )
    .execute(db.pool())
    .await
    .unwrap();
    sqlx::query("INSERT INTO things VALUES ('acct_a', 'one', 'first thing', 1)")
        .execute(db.pool())
        .await
        .unwrap();
    (database, db)
}

#[tokio::test(flavor = "current_thread")]
async fn a_sqlite_point_read_on_this_thread_sees_every_committed_write() {
    let (_database, db) = things(Backend::Sqlite).await;
    let read = |account: &str, id: &str| {
        db.read_one_here::<(String, i64), _>(READ, (account, id))
            .expect("a SQLite file is read here")
            .expect("the read succeeds")
    };
    assert_eq!(read("acct_a", "one"), Some(("first thing".to_owned(), 1)));
    assert_eq!(read("acct_b", "one"), None, "another account's row is not found");

    // Written through the pool after this thread's reader last read: the next read sees it.
    let mut tx = db.begin_write().await.unwrap();
    sqlx::query("UPDATE things SET uses = 2 WHERE id = 'one'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(read("acct_a", "one"), Some(("first thing".to_owned(), 2)));
    sqlx::query("DELETE FROM things").execute(db.pool()).await.unwrap();
    assert_eq!(read("acct_a", "one"), None);

    // A query that cannot run is an error, not a panic; the reader is read-only.
    assert!(
        db.read_one_here::<(i64,), _>("SELECT nothing FROM nowhere", ())
            .unwrap()
            .is_err()
    );
    assert!(
        db.read_one_here::<(i64,), _>("DELETE FROM things RETURNING uses", ())
            .unwrap()
            .is_err(),
        "the reader cannot write"
    );
}

#[tokio::test]
async fn on_postgres_the_caller_reads_through_the_pool() {
    let (_database, db) = things(Backend::Postgres).await;
    assert!(db.read_one_here::<(String, i64), _>(READ, ("acct_a", "one")).is_none());
}
