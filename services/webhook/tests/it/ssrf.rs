//! The SSRF guard: internal addresses refused at registration (literal) and at connection time
//! (names), and redirects never followed.

use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

use latchkey_ids::EndpointId;
use latchkey_storage::Backend;
use latchkey_webhook::{EndpointInput, WebhookConfig, WebhookError};

use crate::support::{Receiver, Reply, World, account, fast_config};

fn endpoint(url: String) -> EndpointInput {
    EndpointInput {
        url,
        events: vec!["token.*".to_owned()],
        description: None,
    }
}

#[tokio::test]
async fn internal_addresses_are_refused_unless_configuration_allows_them() {
    let world = World::new(
        Backend::Sqlite,
        WebhookConfig {
            allow_loopback: false,
            ..fast_config()
        },
    )
    .await;
    let _service = world.start_service();
    let receiver = Receiver::start().await;

    for literal in [
        format!("http://127.0.0.1:{}/hooks", receiver.addr.port()),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.7/hooks".to_owned(),
        "http://[::1]/hooks".to_owned(),
        // IPv6 forms that carry an internal IPv4 address are judged by it.
        "http://[::ffff:127.0.0.1]/hooks".to_owned(),
        "http://[::10.0.0.7]/hooks".to_owned(),
        "http://[64:ff9b::169.254.169.254]/hooks".to_owned(),
        "http://[64:ff9b:1:a9fe:a9:fe00::]/hooks".to_owned(),
        "http://[2002:a9fe:a9fe::1]/hooks".to_owned(),
    ] {
        let refused = world
            .api
            .create_endpoint(&account("acct_a"), None, endpoint(literal.clone()))
            .await;
        let Err(WebhookError::Invalid(error)) = refused else {
            panic!("{literal} must be refused");
        };
        assert_eq!(error.errors[0].field, "url");
    }

    // A name is vetted when the delivery connects: localhost resolves to loopback.
    let by_name = world
        .api
        .create_endpoint(
            &account("acct_a"),
            None,
            endpoint(format!("http://localhost:{}/hooks", receiver.addr.port())),
        )
        .await
        .unwrap();
    // The record names the rule, never the address the name resolved to.
    let error = one_refused_attempt(&world, &by_name.endpoint.id, &receiver).await;
    assert!(!error.contains("127.0.0.1"), "{error}");
}

/// Publishes one event, and answers the error of the one attempt to deliver it to `endpoint`: it
/// failed on the address rule, was not retried, and reached nothing.
async fn one_refused_attempt(world: &World, endpoint: &EndpointId, receiver: &Receiver) -> String {
    world.publish_tokens("acct_a", 1).await;
    let attempts = world
        .attempts_once(&account("acct_a"), endpoint, WAIT, |attempts| {
            attempts.first().is_some_and(|a| a.message_status == "failed")
        })
        .await;
    assert_eq!(attempts.len(), 1, "a refused address is not retried");
    assert_eq!(
        attempts[0].error,
        "refused_address: destination refused: loopback address"
    );
    assert!(receiver.received().is_empty(), "nothing reached the loopback receiver");
    attempts[0].error.clone()
}

#[tokio::test]
async fn a_literal_address_refused_at_delivery_is_recorded_by_its_rule() {
    // Registered while loopback was allowed, delivered by a service that no longer allows it.
    let mut world = World::new(Backend::Sqlite, fast_config()).await;
    let receiver = Receiver::start().await;
    let created = world
        .api
        .create_endpoint(
            &account("acct_a"),
            None,
            endpoint(format!("http://[::ffff:127.0.0.1]:{}/hooks", receiver.addr.port())),
        )
        .await
        .unwrap();
    world.config.allow_loopback = false;
    let _service = world.start_service();
    let error = one_refused_attempt(&world, &created.endpoint.id, &receiver).await;
    assert!(!error.contains("127.0.0.1") && !error.contains("7f00"), "{error}");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let world = World::new(Backend::Sqlite, fast_config()).await;
    let _service = world.start_service();
    let target = Receiver::start().await;
    let redirecting = Receiver::start().await;
    redirecting.otherwise(Reply {
        status: 307,
        headers: vec![("location", target.url())],
        body: String::new(),
    });
    let created = world
        .api
        .create_endpoint(&account("acct_a"), None, endpoint(redirecting.url()))
        .await
        .unwrap();
    world.publish_tokens("acct_a", 1).await;
    let attempts = world
        .attempts_once(&account("acct_a"), &created.endpoint.id, WAIT, |attempts| {
            attempts.first().is_some_and(|a| a.message_status == "failed")
        })
        .await;
    assert_eq!(attempts[0].status_code, 307);
    assert_eq!(attempts[0].outcome, "failed");
    assert_eq!(redirecting.received().len(), 1);
    assert!(target.received().is_empty(), "the redirect was not followed");
}
