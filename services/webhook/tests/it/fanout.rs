//! The consumer hands the service events in batches: each event of a batch becomes a message for
//! exactly the active endpoints of its own account that subscribe to its type, and a batch handed
//! over again (a redelivery) adds nothing.

use std::time::Duration;

use latchkey_events::{Envelope, catalogue::TokenIssued};
use latchkey_storage::Backend;
use latchkey_test_support::eventually;
use latchkey_webhook::EndpointInput;
use serde_json::Value;

use crate::support::{Receiver, World, account, fast_config};

fn subscribe(url: &str, events: &[&str]) -> EndpointInput {
    EndpointInput {
        url: url.to_owned(),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        description: None,
    }
}

/// An event of `event_type` for `account`, with an id of its own (its payload a token's, which
/// the fan-out does not read).
fn event(account: &str, event_type: &str) -> Envelope {
    let token = TokenIssued {
        jti: uuid::Uuid::now_v7().simple().to_string(),
        agent_id: "agent_test".to_owned(),
        scope: vec!["secrets.read".to_owned()],
        audience: "https://api.example.com".to_owned(),
        expires_at: 1_900_000_000,
        intent: None,
        delegated_from: None,
    };
    let mut event = Envelope::new("/latchkey/test", account, None, &token);
    event.event_type = event_type.to_owned();
    event
}

/// The event types a receiver was sent, in the order it got them.
fn types_received(receiver: &Receiver) -> Vec<String> {
    receiver
        .received()
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(&r.body).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

async fn one_batch_of_many_accounts(backend: Backend) {
    let world = World::new(backend, fast_config()).await;
    let (tokens_of_a, agents_of_a, everything_of_b, removed_of_a) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    let create = async |account_id: &str, receiver: &Receiver, events: &[&str]| {
        world
            .api
            .create_endpoint(&account(account_id), None, subscribe(&receiver.url(), events))
            .await
            .unwrap()
    };
    create("acct_a", &tokens_of_a, &["token.*"]).await;
    create("acct_a", &agents_of_a, &["agent.created"]).await;
    create("acct_b", &everything_of_b, &["token.*", "agent.*"]).await;
    let removed = create("acct_a", &removed_of_a, &["token.*"]).await;
    world
        .api
        .delete_endpoint(&account("acct_a"), None, &removed.endpoint.id)
        .await
        .unwrap();

    // The batch as the consumer would hand it over.
    let issued_to_a = event("acct_a", "token.issued");
    let batch = vec![
        issued_to_a.clone(),
        event("acct_a", "agent.created"),
        event("acct_a", "agent.paused"),
        event("acct_b", "token.issued"),
        event("acct_b", "agent.created"),
        event("acct_c", "token.issued"),
        // A system event and text that is no account: no endpoint of anyone's.
        event("", "token.issued"),
        event("acct_*", "token.issued"),
        // The first event again, as a redelivery within the same batch.
        issued_to_a,
    ];
    assert_eq!(world.api.accept_all(&batch).await.unwrap(), 4);
    assert_eq!(
        world.api.accept_all(&batch).await.unwrap(),
        0,
        "a batch handed over again adds nothing"
    );
    assert_eq!(world.api.accept_all(&[]).await.unwrap(), 0);
    assert_eq!(world.api.backlog().await.unwrap(), 4);

    let _service = world.start_service();
    assert!(
        eventually(Duration::from_secs(30), || async {
            world.api.backlog().await.unwrap() == 0
        })
        .await,
        "the messages were not delivered"
    );
    assert_eq!(types_received(&tokens_of_a), ["token.issued"]);
    assert_eq!(types_received(&agents_of_a), ["agent.created"]);
    let mut of_b = types_received(&everything_of_b);
    of_b.sort();
    assert_eq!(of_b, ["agent.created", "token.issued"]);
    assert!(removed_of_a.received().is_empty());
}

#[tokio::test]
async fn a_batch_of_many_accounts_reaches_each_accounts_subscribers_once_sqlite() {
    one_batch_of_many_accounts(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_batch_of_many_accounts_reaches_each_accounts_subscribers_once_postgres() {
    one_batch_of_many_accounts(Backend::Postgres).await;
}
