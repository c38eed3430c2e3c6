//! Token issues (and any event written on its own) are committed in groups: many callers at once,
//! one transaction. Every caller that was told its event is written finds it in the outbox, once,
//! and a caller that goes away mid-way takes nobody's event with it.

use latchkey_events::{Envelope, Outbox, catalogue::AccountCreated};
use latchkey_storage::{Backend, Db, sqlx};
use latchkey_test_support::TestDatabase;

fn event(n: usize) -> Envelope {
    Envelope::new(
        "/latchkey/test",
        "acct_h8w2m4k6p0z3y7d1",
        None,
        &AccountCreated {
            account_id: "acct_h8w2m4k6p0z3y7d1".into(),
            name: format!("account {n}"),
        },
    )
}

async fn written_ids(db: &Db) -> Vec<String> {
    sqlx::query_scalar("SELECT event_id FROM latchkey_outbox WHERE source = '/latchkey/test' ORDER BY seq")
        .fetch_all(db.pool())
        .await
        .unwrap()
}

async fn many_writers_at_once_each_find_their_event_written_once(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let db = Db::connect(database.url()).await.unwrap();
    let outbox = Outbox::open(db.clone(), "/latchkey/test").await.unwrap();

    // More at once than one group carries.
    let mut writers = Vec::new();
    for n in 0..700 {
        let (outbox, event) = (outbox.clone(), event(n));
        let id = event.id.clone();
        writers.push((id, tokio::spawn(async move { outbox.write(event).await })));
    }
    // A third of the callers go away before they hear back.
    let mut told_written = Vec::new();
    for (n, (id, writer)) in writers.into_iter().enumerate() {
        if n % 3 == 0 {
            writer.abort();
        } else {
            writer.await.expect("writer").expect("written");
            told_written.push(id);
        }
    }

    let written = written_ids(&db).await;
    let mut distinct = written.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), written.len(), "no event is written twice");
    for id in &told_written {
        assert!(
            written.contains(id),
            "an event its writer was told is written is in the outbox"
        );
    }
    assert!(written.len() <= 700);
    assert_eq!(outbox.pending().await.unwrap(), written.len() as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_writers_at_once_each_find_their_event_written_once_on_sqlite() {
    many_writers_at_once_each_find_their_event_written_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_writers_at_once_each_find_their_event_written_once_on_postgres() {
    many_writers_at_once_each_find_their_event_written_once(Backend::Postgres).await;
}
