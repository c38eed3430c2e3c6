//! The audit consumer appends events in batches and keeps every event exactly once, in publish
//! order, whatever happens to a batch on the way: a failing append, a crash in the middle of the
//! transaction, or a broker that goes away after the append but before the acknowledgement.

use async_nats::jetstream::consumer::PullConsumer;
use latchkey_audit::{ChainEntry, verify_entries};
use latchkey_events::{Envelope, EventBus};
use latchkey_storage::{Backend, Db, sqlx};
use latchkey_test_support::{NatsServer, RunningConsumer, TestDatabase, nats_bus, unique_prefix};
use tokio_util::sync::CancellationToken;

use crate::support::{
    DEADLINE, account, chain_once, ids, on_insert_of, open_audit, start_consumer, token_events, tries,
};

/// The advisory lock a test holds to stop the consumer in the middle of a batch's transaction.
const MID_BATCH_LOCK: i64 = 4242;

/// Every event of `sent` exactly once, in publish order, in a chain that verifies.
fn assert_exactly_once_in_order(chain: &[ChainEntry], sent: &[Envelope]) {
    assert_eq!(chain.len(), sent.len(), "every event, none twice");
    let chained: Vec<String> = chain.iter().map(|entry| entry.event_id.clone()).collect();
    assert_eq!(chained, ids(sent), "in publish order");
    let seqs: Vec<i64> = chain.iter().map(|entry| entry.seq).collect();
    assert_eq!(seqs, (1..=sent.len() as i64).collect::<Vec<_>>(), "no gap");
    assert_eq!(verify_entries(chain).first_broken_seq, None);
}

/// Holds [`MID_BATCH_LOCK`] on a connection of its own until released.
async fn hold_mid_batch_lock(db: &Db) -> sqlx::pool::PoolConnection<sqlx::Any> {
    let mut connection = db.pool().acquire().await.expect("a connection");
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MID_BATCH_LOCK)
        .execute(&mut *connection)
        .await
        .expect("take the lock");
    connection
}

async fn release_mid_batch_lock(mut connection: sqlx::pool::PoolConnection<sqlx::Any>) {
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MID_BATCH_LOCK)
        .execute(&mut *connection)
        .await
        .expect("release the lock");
}

/// Waits until a transaction waits for [`MID_BATCH_LOCK`]: the consumer is stuck mid-batch.
/// Answers its backend's process id.
async fn consumer_waiting_mid_batch(db: &Db) -> i32 {
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let waiting: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .bind(MID_BATCH_LOCK)
        .fetch_optional(db.pool())
        .await
        .expect("read pg_locks");
        if let Some(pid) = waiting {
            return pid;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the consumer never reached the locked event"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_failing_batch_comes_again_and_every_event_lands_once_in_publish_order() {
    let nats = NatsServer::spawn().await;
    let database = TestDatabase::postgres().await;
    let db = Db::connect(database.url()).await.expect("connect");
    let audit = open_audit(database.url()).await;
    let sent = token_events("acct_retry", 1200);
    // Event 700 is in the second batch of 500: appending that batch fails twice.
    on_insert_of(&db, &sent[700].id, 2, "RAISE EXCEPTION 'simulated append failure'").await;
    let bus = nats_bus(&nats.url(), &unique_prefix()).await;
    bus.publish(&sent).await.expect("publish");

    let shutdown = CancellationToken::new();
    let consumer = tokio::spawn(audit.clone().consume(bus, shutdown.clone()));
    let chain = chain_once(&audit, "acct_retry", sent.len()).await;
    shutdown.cancel();
    consumer.await.expect("the consumer stops");

    assert_exactly_once_in_order(&chain, &sent);
    assert_eq!(tries(&db).await, 3, "the batch failed twice, then was appended");
}

/// 1,500 events of `account` published, and a consumer whose second batch's transaction is stopped
/// at event 700 (once) by [`MID_BATCH_LOCK`], which the test holds.
struct StuckMidBatch {
    nats: NatsServer,
    database: TestDatabase,
    db: Db,
    audit: latchkey_audit::Audit,
    sent: Vec<Envelope>,
    prefix: String,
    lock: sqlx::pool::PoolConnection<sqlx::Any>,
    consumer: RunningConsumer,
    /// The backend pid of the consumer's stopped transaction.
    stuck: i32,
}

impl StuckMidBatch {
    async fn start(account: &str) -> Self {
        let nats = NatsServer::spawn().await;
        let database = TestDatabase::postgres().await;
        let db = Db::connect(database.url()).await.expect("connect");
        let audit = open_audit(database.url()).await;
        let sent = token_events(account, 1500);
        on_insert_of(
            &db,
            &sent[700].id,
            1,
            &format!("PERFORM pg_advisory_xact_lock_shared({MID_BATCH_LOCK})"),
        )
        .await;
        let lock = hold_mid_batch_lock(&db).await;
        let prefix = unique_prefix();
        nats_bus(&nats.url(), &prefix)
            .await
            .publish(&sent)
            .await
            .expect("publish");
        let consumer = start_consumer(database.url(), &nats.url(), &prefix);
        let stuck = consumer_waiting_mid_batch(&db).await;
        Self {
            nats,
            database,
            db,
            audit,
            sent,
            prefix,
            lock,
            consumer,
            stuck,
        }
    }
}

#[tokio::test]
async fn a_consumer_killed_mid_batch_leaves_every_event_once_in_the_chain_after_restart() {
    let setup = StuckMidBatch::start("acct_killed").await;
    assert_eq!(
        setup
            .audit
            .chain_of(&account("acct_killed"))
            .await
            .expect("chain")
            .len(),
        500,
        "the first batch is in; the second is half-written"
    );
    setup.consumer.kill();
    // The crash takes the consumer's connection with it: its open transaction rolls back.
    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(setup.stuck)
        .fetch_one(setup.db.pool())
        .await
        .expect("terminate the crashed consumer's backend");
    assert!(terminated);
    release_mid_batch_lock(setup.lock).await;

    // The unacknowledged batch comes again once JetStream's ack wait has passed.
    let _restarted = start_consumer(setup.database.url(), &setup.nats.url(), &setup.prefix);
    let chain = chain_once(&setup.audit, "acct_killed", setup.sent.len()).await;
    assert_exactly_once_in_order(&chain, &setup.sent);
    assert_eq!(tries(&setup.db).await, 2, "event 700 was appended on the second try");
}

#[tokio::test]
async fn a_batch_appended_but_never_acknowledged_comes_again_and_is_not_appended_twice() {
    let mut setup = StuckMidBatch::start("acct_unacked").await;
    // The broker goes away while the second batch is being appended; the append commits, and the
    // consumer dies before its acknowledgements (waiting in its client for the broker) get out.
    setup.nats.stop();
    release_mid_batch_lock(setup.lock).await;
    assert_eq!(chain_once(&setup.audit, "acct_unacked", 1000).await.len(), 1000);
    setup.consumer.kill();
    setup.nats.start().await;

    let _restarted = start_consumer(setup.database.url(), &setup.nats.url(), &setup.prefix);
    let chain = chain_once(&setup.audit, "acct_unacked", setup.sent.len()).await;
    assert_exactly_once_in_order(&chain, &setup.sent);
    let (deliveries, events) = consumer_deliveries(&setup.nats.url(), &setup.prefix).await;
    assert!(
        deliveries >= events + 500,
        "the appended batch was delivered again ({deliveries} deliveries of {events} events)"
    );
}

/// How many deliveries the audit consumer had, and up to which stream sequence.
async fn consumer_deliveries(nats_url: &str, prefix: &str) -> (u64, u64) {
    let bus = nats_bus(nats_url, prefix).await;
    let EventBus::Nats(bus) = bus else {
        unreachable!("a JetStream bus")
    };
    let mut consumer: PullConsumer = bus
        .jetstream()
        .get_stream(bus.stream_name())
        .await
        .expect("the stream")
        .get_consumer(latchkey_audit::CONSUMER)
        .await
        .expect("the audit consumer");
    let info = consumer.info().await.expect("consumer info");
    (info.delivered.consumer_sequence, info.delivered.stream_sequence)
}

#[tokio::test]
async fn an_event_twice_in_one_batch_or_in_two_is_appended_once() {
    let database = TestDatabase::new(Backend::Sqlite).await;
    let audit = open_audit(database.url()).await;
    let events = token_events("acct_twice", 3);
    let (a, b, c) = (&events[0], &events[1], &events[2]);
    assert_eq!(
        audit
            .append_batch(&[a.clone(), b.clone(), a.clone()])
            .await
            .expect("append"),
        2
    );
    assert_eq!(audit.append_batch(&[b.clone(), c.clone()]).await.expect("append"), 1);
    let chain = audit.chain_of(&account("acct_twice")).await.expect("chain");
    assert_exactly_once_in_order(&chain, &events);
}

#[tokio::test]
async fn an_event_whose_account_is_not_an_account_id_is_left_out_and_the_rest_appended() {
    let database = TestDatabase::new(Backend::Sqlite).await;
    let audit = open_audit(database.url()).await;
    let events = token_events("acct_kept", 2);
    let strays: Vec<Envelope> = ["acct_*", "acct_a.b", "ACCT_A", "tenant-a", "agent_x", ""]
        .into_iter()
        .map(|bad| token_events(bad, 1).remove(0))
        .collect();
    let mut batch = vec![events[0].clone()];
    batch.extend(strays.iter().cloned());
    batch.push(events[1].clone());
    assert_eq!(
        audit.append_batch(&batch).await.expect("append"),
        2,
        "the account's two only"
    );
    for stray in &strays {
        assert!(!audit.append(stray).await.expect("append"), "{:?}", stray.account);
    }
    let chain = audit.chain_of(&account("acct_kept")).await.expect("chain");
    assert_exactly_once_in_order(&chain, &events);
    let db = Db::connect(database.url()).await.expect("open the audit database");
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_entries")
        .fetch_one(db.pool())
        .await
        .expect("count");
    assert_eq!(stored, 2, "nothing chained under what is not an account");
}
