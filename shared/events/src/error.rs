//! What can go wrong on the event bus. Messages name the operation and carry the underlying
//! cause; events carry ids and metadata only, so nothing here can leak a secret.

use async_nats::jetstream::{consumer, context, stream};
use latchkey_storage::{StorageError, sqlx};

/// An event bus failure, on either implementation.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("could not set up the JetStream stream: {0}")]
    StreamSetup(#[from] context::CreateStreamError),
    #[error("invalid stream settings: {0}")]
    StreamSettings(String),
    #[error("publishing to JetStream failed: {0}")]
    Publish(#[from] context::PublishError),
    #[error("could not create the JetStream consumer: {0}")]
    Consumer(#[from] stream::ConsumerError),
    #[error("could not open the JetStream consumer's message stream: {0}")]
    OpenMessages(#[from] consumer::StreamError),
    #[error("asking the JetStream consumer for messages failed: {0}")]
    Pull(#[source] consumer::pull::BatchError),
    #[error("receiving messages from the JetStream consumer failed: {0}")]
    PullMessage(#[source] async_nats::Error),
    #[error("the JetStream consumer's message stream failed: {0}")]
    Messages(#[from] consumer::pull::MessagesError),
    #[error("the JetStream replay's message stream failed: {0}")]
    Replay(#[from] consumer::pull::OrderedError),
    #[error("cannot replay from {0} ms after the Unix epoch: out of range")]
    ReplayStart(i64),
    #[error("the JetStream consumer's message stream ended")]
    MessagesEnded,
    #[error("NATS subscription failed: {0}")]
    Subscribe(#[from] async_nats::SubscribeError),
    #[error("the NATS server did not confirm a live subscription: {0}")]
    LiveConfirm(#[source] async_nats::RequestError),
    #[error("acknowledging an event to JetStream failed: {0}")]
    Ack(#[source] async_nats::Error),
    #[error("event bus storage: {0}")]
    Storage(#[from] StorageError),
    #[error("event bus database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("could not read the JetStream consumer's state: {0}")]
    ConsumerState(String),
    #[error("invalid consumer name {0:?}: use letters, digits, '-' and '_' only")]
    InvalidConsumerName(String),
    #[error("invalid event type pattern {0:?}")]
    InvalidPattern(String),
}
