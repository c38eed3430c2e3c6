//! Who may publish what (`latchkey_events::access`): an outbox refuses an event type its service
//! does not publish, and every JetStream reader (durable consumer, replay, live subscription) drops
//! an event whose envelope names another type or account than the subject it came on, which is
//! what the broker's permissions vouch for.

use chrono::Utc;
use latchkey_events::{Envelope, EventBus, EventFilter, Outbox, Step, Subscription};
use latchkey_storage::Db;
use latchkey_test_support::{TestBus, TestDatabase, nats_url};

use crate::support::{DEADLINE, Recorded, event, spawn_recorder};

#[tokio::test]
async fn an_outbox_refuses_an_event_type_its_service_does_not_publish() {
    let db = TestDatabase::sqlite();
    let outbox = Outbox::open(Db::connect(db.url()).await.expect("connect"), "/latchkey/webhook")
        .await
        .expect("open outbox");
    // account.created is agent-token's.
    let foreign = event(1);
    let mut tx = outbox.db().begin_write().await.expect("begin");
    let refused = outbox.enqueue(&mut tx, &foreign).await.unwrap_err().to_string();
    assert!(
        refused.contains("webhook does not publish account.created"),
        "{refused}"
    );
    drop(tx);
    let refused = outbox.write(foreign).await.unwrap_err().to_string();
    assert!(
        refused.contains("webhook does not publish account.created"),
        "{refused}"
    );

    let mut own = event(2);
    own.event_type = "endpoint.created".to_owned();
    outbox.write(own.clone()).await.expect("its own event type");
    let mut tx = outbox.db().begin_write().await.expect("begin");
    own.id = uuid::Uuid::now_v7().to_string();
    outbox.enqueue(&mut tx, &own).await.expect("its own event type");
    outbox.commit(tx).await.expect("commit");
    assert_eq!(outbox.pending().await.expect("pending"), 2);
}

/// The events a subscription hands over up to and including `last`, skipping markers.
async fn events_until(subscription: &mut Subscription, last: &Envelope) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let step = tokio::time::timeout(DEADLINE, subscription.next_step())
            .await
            .expect("a step in time")
            .expect("open")
            .expect("no error");
        if let Step::Event(delivery) = step {
            seen.push(delivery.envelope.id.clone());
            if delivery.envelope.id == last.id {
                return seen;
            }
        }
    }
}

#[tokio::test]
async fn nats_readers_drop_an_event_whose_envelope_disagrees_with_its_subject() {
    let test = TestBus::nats(&nats_url()).await;
    let EventBus::Nats(nats) = &test.bus else {
        unreachable!("a NATS test bus")
    };
    let prefix = nats.prefix().to_owned();
    let since = Utc::now() - chrono::Duration::minutes(1);
    let mut live = test.bus.live(EventFilter::all()).await.expect("live");
    let mut replay = test.bus.replay(EventFilter::all(), since).await.expect("replay");

    // A service allowed endpoint.created claims a revocation, and one allowed an account's events
    // claims another account's: both sent on subjects their senders may use. And an account that
    // is a wildcard, on the very subject it names (`*` in a permission matches a literal `*`).
    let mut other_type = event(1);
    other_type.event_type = "token.revoked".to_owned();
    let mut other_account = event(2);
    other_account.account = "acct_victim".to_owned();
    let mut wildcard_account = event(4);
    wildcard_account.account = "*".to_owned();
    for (forged, subject) in [
        (&other_type, format!("{prefix}.events.acct_test.endpoint.created")),
        (&other_account, format!("{prefix}.events.acct_test.account.created")),
        (&wildcard_account, wildcard_account.subject_under(&prefix)),
    ] {
        nats.jetstream()
            .publish(subject, forged.to_json().into())
            .await
            .expect("publish")
            .await
            .expect("stored");
    }
    let genuine = event(3);
    test.bus.publish(std::slice::from_ref(&genuine)).await.expect("publish");

    // Published after the forged ones: once it is handed over, they were read and dropped.
    let recorded = Recorded::default();
    let consumer = spawn_recorder(&test.bus, "forgery-test", EventFilter::all(), &recorded);
    recorded.wait_for(1).await;
    let only_genuine = vec![genuine.id.clone()];
    assert_eq!(recorded.ids(), only_genuine, "{:#?}", recorded.events());
    consumer.stop().await;
    assert_eq!(events_until(&mut replay, &genuine).await, only_genuine);
    assert_eq!(events_until(&mut live, &genuine).await, only_genuine);
    test.cleanup().await;
}
