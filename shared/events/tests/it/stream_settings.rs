//! The event stream kept as the settings say: replicas, retention and the duplicate window are the
//! stream's on creation, a later start with other values updates it, and what JetStream cannot do
//! (three replicas on one server) is refused rather than ignored.

use std::time::Duration;

use latchkey_events::{BusError, EventBus, NatsConnection, StreamSettings};
use latchkey_test_support::{nats_url, unique_prefix};

async fn connect() -> NatsConnection {
    NatsConnection::connect(&nats_url(), async_nats::ConnectOptions::new())
        .await
        .expect("connect to NATS")
}

async fn stream_config(bus: &EventBus) -> async_nats::jetstream::stream::Config {
    let EventBus::Nats(nats) = bus else {
        panic!("a JetStream bus")
    };
    let mut stream = nats
        .jetstream()
        .get_stream(nats.stream_name())
        .await
        .expect("the stream");
    stream.info().await.expect("its info").config.clone()
}

#[tokio::test]
async fn the_stream_keeps_events_as_the_settings_say_and_follows_a_change() {
    let prefix = unique_prefix();
    let first = StreamSettings {
        replicas: 1,
        max_age: Duration::from_secs(7 * 24 * 3600),
        max_bytes: Some(64 * 1024 * 1024),
        duplicate_window: Duration::from_secs(30),
    };
    let bus = EventBus::nats_with(connect().await, &prefix, first).await.unwrap();
    let config = stream_config(&bus).await;
    assert_eq!(config.num_replicas, 1);
    assert_eq!(config.max_age, first.max_age);
    assert_eq!(config.max_bytes, 64 * 1024 * 1024);
    assert_eq!(config.duplicate_window, first.duplicate_window);

    // A later start with other settings (a shorter window, no byte limit) updates the stream.
    let second = StreamSettings {
        max_bytes: None,
        duplicate_window: Duration::from_secs(10),
        ..first
    };
    let bus = EventBus::nats_with(connect().await, &prefix, second).await.unwrap();
    let config = stream_config(&bus).await;
    assert_eq!(config.max_bytes, -1);
    assert_eq!(config.duplicate_window, Duration::from_secs(10));
    assert_eq!(config.max_age, first.max_age);

    // The defaults: one replica, kept for ever, two minutes of deduplication.
    let defaults = EventBus::nats(connect().await, &unique_prefix()).await.unwrap();
    let config = stream_config(&defaults).await;
    assert_eq!(
        (config.num_replicas, config.max_age, config.max_bytes),
        (1, Duration::ZERO, -1)
    );
    assert_eq!(config.duplicate_window, Duration::from_secs(120));
    for bus in [bus, defaults] {
        let EventBus::Nats(nats) = bus else { unreachable!() };
        nats.jetstream().delete_stream(nats.stream_name()).await.unwrap();
    }
}

#[tokio::test]
async fn settings_jetstream_cannot_honour_are_refused() {
    // Three replicas on the one server of this machine: JetStream refuses, and so does the bus.
    let three = StreamSettings {
        replicas: 3,
        ..StreamSettings::default()
    };
    let refused = EventBus::nats_with(connect().await, &unique_prefix(), three).await;
    assert!(matches!(refused, Err(BusError::StreamSetup(_))), "{refused:?}");

    let window_past_retention = StreamSettings {
        max_age: Duration::from_secs(60),
        ..StreamSettings::default()
    };
    let refused = EventBus::nats_with(connect().await, &unique_prefix(), window_past_retention).await;
    assert!(matches!(refused, Err(BusError::StreamSettings(_))), "{refused:?}");
}
