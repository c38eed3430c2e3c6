//! Leases, as two replicas of a service see them on each backend: one holds, the other stands by
//! and takes over once the holder's lease ran out or was handed over, and a holder that was taken
//! over can no longer write under it.

use std::time::Duration;

use latchkey_storage::{Backend, Db, Lease};
use latchkey_test_support::TestDatabase;

const TTL: Duration = Duration::from_millis(600);

async fn one_replica_holds_and_the_other_takes_over(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let db = Db::connect(database.url()).await.unwrap();
    let first = Lease::open_as(db.clone(), "relay", TTL, "first").await.unwrap();
    let second = Lease::open_as(db.clone(), "relay", TTL, "second").await.unwrap();

    assert!(first.acquire().await.unwrap(), "a free lease is taken");
    assert!(!second.acquire().await.unwrap(), "a held lease is not");
    assert!(first.acquire().await.unwrap(), "its holder renews it");
    assert!(first.acquire_lazily().await.unwrap());

    // Another name is another lease.
    let other = Lease::open_as(db.clone(), "consumer", TTL, "second").await.unwrap();
    assert!(other.acquire().await.unwrap());

    // The holder stops renewing (it died): the lease runs out and the other takes it.
    tokio::time::sleep(TTL + Duration::from_millis(100)).await;
    assert!(second.acquire().await.unwrap(), "a lease that ran out is taken over");
    assert!(!first.acquire().await.unwrap(), "the old holder does not get it back");

    // The overtaken holder's write under the lease is refused inside its transaction.
    let mut tx = db.begin_write().await.unwrap();
    assert!(!first.renew_in(&mut tx).await.unwrap());
    tx.rollback().await.unwrap();
    let mut tx = db.begin_write().await.unwrap();
    assert!(second.renew_in(&mut tx).await.unwrap());
    tx.commit().await.unwrap();

    // Handed over: the other takes it at once, without waiting for it to run out.
    second.release().await.unwrap();
    assert!(first.acquire().await.unwrap());
}

#[tokio::test]
async fn one_replica_holds_a_lease_and_the_other_takes_over_on_sqlite() {
    one_replica_holds_and_the_other_takes_over(Backend::Sqlite).await;
}

#[tokio::test]
async fn one_replica_holds_a_lease_and_the_other_takes_over_on_postgres() {
    one_replica_holds_and_the_other_takes_over(Backend::Postgres).await;
}

/// Many replicas racing for a free lease on PostgreSQL: exactly one wins.
#[tokio::test]
async fn exactly_one_of_many_racing_replicas_takes_a_free_lease() {
    let database = TestDatabase::postgres().await;
    let db = Db::connect(database.url()).await.unwrap();
    let mut racers = Vec::new();
    for i in 0..8 {
        let lease = Lease::open_as(db.clone(), "race", Duration::from_secs(30), &format!("replica-{i}"))
            .await
            .unwrap();
        racers.push(tokio::spawn(async move { lease.acquire().await.unwrap() }));
    }
    let mut winners = 0;
    for racer in racers {
        winners += usize::from(racer.await.unwrap());
    }
    assert_eq!(winners, 1);
}
