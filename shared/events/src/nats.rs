//! The JetStream implementation of the bus: one stream per prefix, `Nats-Msg-Id` deduplication,
//! durable pull consumers that deliver one event or one batch at a time so a failed one is
//! redelivered before the next, and core-NATS subscriptions for live listeners that say when
//! they may have missed events (`live`, fed by the client's connection events: `connection`).

use std::{sync::Arc, time::Duration};

use async_nats::jetstream::{
    self, AckKind,
    consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull},
    context,
    message::PublishMessage,
    stream::{self, StorageType},
};
use futures::{StreamExt, future::join_all};

use tokio::sync::watch;

use crate::{
    BusError, ConsumerState, Envelope, EventFilter,
    dead_letter::DeadLetterSetup,
    delivery::{Acker as DeliveryAcker, Delivery, PublishFailure, nats_acker::Acker},
};

mod connection;
mod live;
mod replay;

pub use connection::NatsConnection;
pub(crate) use live::Live;
pub(crate) use replay::Replay;

/// How long JetStream waits for an ack before redelivering.
const ACK_WAIT: Duration = Duration::from_secs(30);
/// How the event stream is kept (`[nats] stream_*` in the settings; docs/events.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamSettings {
    /// Copies of the stream across a NATS cluster: 1 on a single server, 3 on a cluster of three.
    pub replicas: usize,
    /// How long an event is kept; zero: until `max_bytes` drops it, or for ever.
    pub max_age: Duration,
    /// The most bytes the stream keeps, oldest events dropped first; `None`: no limit.
    pub max_bytes: Option<u64>,
    /// How long JetStream remembers message ids: a relay retrying after a broker outage
    /// republishes rows whose first publish may have landed, and these are dropped as duplicates.
    /// An outage longer than this can deliver such a row twice (consumers deduplicate by event id).
    pub duplicate_window: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            replicas: 1,
            max_age: Duration::ZERO,
            max_bytes: None,
            duplicate_window: Duration::from_secs(120),
        }
    }
}

impl StreamSettings {
    /// Why JetStream would refuse these settings, if it would.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=5).contains(&self.replicas) {
            return Err(format!(
                "stream_replicas must be 1 to 5 (JetStream's limit), not {}",
                self.replicas
            ));
        }
        if self.duplicate_window.is_zero() {
            return Err("stream_duplicate_window_secs must be at least 1".to_owned());
        }
        if !self.max_age.is_zero() && self.duplicate_window > self.max_age {
            return Err("stream_duplicate_window_secs must not be longer than stream_max_age_secs".to_owned());
        }
        if self.max_bytes.is_some_and(|bytes| bytes > i64::MAX as u64) {
            return Err("stream_max_bytes is too large".to_owned());
        }
        Ok(())
    }

    fn apply(&self, config: &mut stream::Config) {
        config.num_replicas = self.replicas;
        config.max_age = self.max_age;
        config.max_bytes = self
            .max_bytes
            .map_or(-1, |bytes| i64::try_from(bytes).unwrap_or(i64::MAX));
        config.duplicate_window = self.duplicate_window;
    }

    /// Whether `config` (the stream as the server has it) already keeps events this way.
    fn holds(&self, config: &stream::Config) -> bool {
        let mut wanted = config.clone();
        self.apply(&mut wanted);
        wanted.num_replicas == config.num_replicas
            && wanted.max_age == config.max_age
            && wanted.max_bytes == config.max_bytes
            && wanted.duplicate_window == config.duplicate_window
    }
}
/// The JetStream stream holding the events under `prefix`: `<PREFIX>_EVENTS`.
pub fn stream_name(prefix: &str) -> String {
    format!("{}_EVENTS", prefix.to_uppercase())
}

/// Whether a message came on the subject its envelope names. The broker lets a service publish
/// only its own event types (`access`): only then do the subject's type and account vouch for the
/// envelope's, which consumers trust. The account must be one token, not a wildcard: a service's
/// permission (`<prefix>.events.*.<type>`) lets it publish on a literal `*` or `>` there.
fn on_its_subject(subject: &str, envelope: &Envelope, prefix: &str) -> bool {
    let account = &envelope.account;
    !account.is_empty()
        && account != "*"
        && account != ">"
        && !account.contains(['.', ' '])
        && subject == envelope.subject_under(prefix)
}

/// [`on_its_subject`]'s refusal, logged once for every kind of subscription: whether the envelope
/// is off its subject, so not to be handed to anyone.
fn refused_off_its_subject(subject: &str, envelope: &Envelope, prefix: &str) -> bool {
    if on_its_subject(subject, envelope, prefix) {
        return false;
    }
    tracing::error!(
        subject,
        event_id = %envelope.id,
        event_type = %envelope.event_type,
        account = %envelope.account,
        "dropping an event whose envelope does not match its subject"
    );
    true
}

/// How long an idle consumer's pull request waits for a message before it asks again. After the
/// client reconnected (it finds a dead connection with its own pings), a request the server lost
/// ends on the client's side within this plus five seconds, and the next one goes out anew.
const IDLE_WAIT: Duration = Duration::from_secs(5);
/// How long the client waits for each answer to a request for what is ready now (`no_wait`). The
/// server answers one at once, unless the consumer's unacknowledged messages are at their limit
/// (after a crash, until the ack wait redelivers them): then it holds the request until it can
/// deliver. A request the broker died holding, or whose answer was lost with the connection, is
/// never answered, and async-nats gives a request without an expiry no limit of its own: without
/// this the consumer would wait for ever. Past it, what came so far is the batch, and the waiting
/// request that follows (which ends by itself) takes over.
const READY_ANSWER_WAIT: Duration = Duration::from_secs(5);

/// The JetStream bus under one subject prefix. Cheap to clone.
#[derive(Clone)]
pub struct NatsBus {
    inner: Arc<Inner>,
    pub(crate) dead_letters: DeadLetterSetup,
}

struct Inner {
    client: async_nats::Client,
    /// The client's connection, as its events tell it: live subscriptions follow it.
    link: watch::Receiver<connection::Link>,
    jetstream: jetstream::Context,
    prefix: String,
    stream_name: String,
}

impl std::fmt::Debug for NatsBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBus")
            .field("prefix", &self.inner.prefix)
            .field("stream_name", &self.inner.stream_name)
            .finish_non_exhaustive()
    }
}

impl NatsBus {
    /// Ensures the stream `<PREFIX>_EVENTS` over `<prefix>.events.>` exists and keeps events as
    /// `settings` say: an existing stream kept otherwise is updated (JetStream refuses what it
    /// cannot do, e.g. three replicas on a single server, and so does this).
    pub(crate) async fn connect(
        connection: NatsConnection,
        prefix: &str,
        settings: StreamSettings,
    ) -> Result<Self, BusError> {
        settings.validate().map_err(BusError::StreamSettings)?;
        let (client, link) = connection.into_parts();
        let jetstream = jetstream::new(client.clone());
        let stream_name = stream_name(prefix);
        let mut config = stream::Config {
            name: stream_name.clone(),
            subjects: vec![format!("{prefix}.events.>")],
            storage: StorageType::File,
            ..Default::default()
        };
        settings.apply(&mut config);
        let existing = jetstream.get_or_create_stream(config.clone()).await?;
        if !settings.holds(&existing.cached_info().config) {
            let mut updated = existing.cached_info().config.clone();
            settings.apply(&mut updated);
            jetstream.update_stream(updated).await?;
            tracing::info!(stream = %stream_name, ?settings, "updated the event stream to the settings");
        }
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                link,
                jetstream,
                prefix: prefix.to_owned(),
                stream_name,
            }),
            dead_letters: DeadLetterSetup::default(),
        })
    }

    /// The subject prefix events are published under.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The JetStream stream holding the events.
    pub fn stream_name(&self) -> &str {
        &self.inner.stream_name
    }

    /// Whether the client is connected to a server now.
    pub(crate) fn is_connected(&self) -> bool {
        self.inner.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Where the durable consumer `name` stands; `None` when it does not exist yet.
    pub(crate) async fn consumer_state(&self, name: &str) -> Result<Option<ConsumerState>, BusError> {
        let stream = self
            .inner
            .jetstream
            .get_stream_no_info(&self.inner.stream_name)
            .await
            .map_err(|error| BusError::ConsumerState(error.to_string()))?;
        match stream.consumer_info(name).await {
            Ok(info) => Ok(Some(ConsumerState {
                pending: info.num_pending,
                unacknowledged: info.num_ack_pending as u64,
                redelivered: info.num_redelivered as u64,
            })),
            Err(error) if error.kind() == context::ConsumerInfoErrorKind::NotFound => Ok(None),
            Err(error) => Err(BusError::ConsumerState(error.to_string())),
        }
    }

    /// The JetStream context, e.g. for tests and tools that inspect or delete the stream.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.inner.jetstream
    }

    /// Publishes `events` in order. On a failure, says how many leading events are stored and
    /// whether JetStream refused the next one for good (see [`refuses_the_message`]); events after a
    /// refused one are not sent.
    pub(crate) async fn publish(&self, events: &[Envelope]) -> Result<(), PublishFailure> {
        // Send every event first and await the acks together: one round trip per batch, not per
        // event. The server keeps the order of one connection's publishes.
        let mut acks = Vec::with_capacity(events.len());
        let mut unsent = None;
        for event in events {
            let message = PublishMessage::build()
                .payload(event.to_json().into())
                .message_id(&event.id);
            match self
                .inner
                .jetstream
                .send_publish(event.subject_under(&self.inner.prefix), message)
                .await
            {
                Ok(ack) => acks.push(std::future::IntoFuture::into_future(ack)),
                Err(err) => {
                    unsent = Some(err);
                    break;
                }
            }
        }
        let sent = acks.len();
        for (stored, ack) in join_all(acks).await.into_iter().enumerate() {
            if let Err(err) = ack {
                return Err(PublishFailure::new(stored, err));
            }
        }
        match unsent {
            Some(err) => Err(PublishFailure::new(sent, err)),
            None => Ok(()),
        }
    }

    pub(crate) async fn durable(&self, name: &str, filter: EventFilter, max_batch: usize) -> Result<Durable, BusError> {
        let mut durable = Durable {
            bus: self.clone(),
            name: name.to_owned(),
            filter,
            max_batch,
            consumer: None,
        };
        // Create the consumer now, so its position exists from this moment on.
        durable.consumer = Some(durable.open().await?);
        Ok(durable)
    }
}

impl PublishFailure {
    fn new(stored: usize, err: context::PublishError) -> Self {
        Self {
            stored,
            refused: refuses_the_message(&err),
            error: err.into(),
        }
    }
}

/// Whether JetStream will never store this message, whatever the broker's state: larger than the
/// server's `max_payload` or the stream's largest message, or on a subject that is not valid. Every
/// other failure (timeouts, a lost connection, no stream, a full store) is the broker's, not the
/// message's: the relay waits those out rather than count them against a row.
fn refuses_the_message(err: &context::PublishError) -> bool {
    match err.kind() {
        context::PublishErrorKind::MaxPayloadExceeded => true,
        context::PublishErrorKind::Other => {
            let source = std::error::Error::source(err);
            source.is_some_and(|source| {
                source.is::<async_nats::subject::SubjectError>()
                    || source
                        .downcast_ref::<jetstream::Error>()
                        .is_some_and(|api| api.error_code() == jetstream::ErrorCode::STREAM_MESSAGE_EXCEEDS_MAXIMUM)
            })
        }
        _ => false,
    }
}

/// A durable pull consumer, asked for messages one pull request at a time and created again after
/// a request fails.
///
/// Every request is either `no_wait` (what is there now) or for a single message (waiting for
/// one): none is left open asking for more while the caller handles what it got, so nothing is
/// delivered behind a batch that is being handled or retried unless the caller asked for it
/// ([`ready_batch`](Self::ready_batch)), and a consumer that stops leaves at most two batches in
/// flight (redelivered after the ack wait).
pub(crate) struct Durable {
    bus: NatsBus,
    name: String,
    filter: EventFilter,
    /// The largest batch. JetStream lets this consumer have two of them unacknowledged: the one
    /// being handled and the one fetched ahead of it.
    max_batch: usize,
    consumer: Option<PullConsumer>,
}

impl Durable {
    async fn open(&self) -> Result<PullConsumer, BusError> {
        let config = pull::Config {
            durable_name: Some(self.name.clone()),
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::Explicit,
            ack_wait: ACK_WAIT,
            max_deliver: -1,
            // At most two batches unacknowledged: the one being handled and the one fetched ahead.
            // Order holds because the consumer loop settles a batch before handling the next, and
            // a failed batch is nak'ed (all of it, in order, then the one fetched ahead) only when
            // it is to be handled again: the redelivery queue comes before new messages.
            max_ack_pending: i64::try_from(self.max_batch.saturating_mul(2)).unwrap_or(i64::MAX),
            filter_subject: match self.filter.pattern() {
                None => String::new(),
                Some(_) => self.filter.subject_under(&self.bus.inner.prefix),
            },
            ..Default::default()
        };
        let bus = &self.bus.inner;
        Ok(bus
            .jetstream
            .create_consumer_on_stream(config, &bus.stream_name)
            .await?)
    }

    async fn consumer(&mut self) -> Result<PullConsumer, BusError> {
        match &self.consumer {
            Some(consumer) => Ok(consumer.clone()),
            None => {
                let consumer = self.open().await?;
                Ok(self.consumer.insert(consumer).clone())
            }
        }
    }

    pub(crate) async fn next(&mut self) -> Option<Result<Delivery, BusError>> {
        self.next_batch(1)
            .await
            .map(|batch| batch.map(|mut batch| batch.swap_remove(0)))
    }

    /// Waits for the next message and adds those JetStream has ready after it, up to `max`.
    /// Never empty.
    pub(crate) async fn next_batch(&mut self, max: usize) -> Option<Result<Vec<Delivery>, BusError>> {
        loop {
            match self.next_batch_or_idle(max).await {
                // The request expired with nothing: ask again.
                Some(Ok(batch)) if batch.is_empty() => {}
                next => return next,
            }
        }
    }

    /// Like [`next_batch`](Self::next_batch), but empty when a wait for a message expired with
    /// nothing (after [`IDLE_WAIT`]): a moment for the caller to do other work.
    pub(crate) async fn next_batch_or_idle(&mut self, max: usize) -> Option<Result<Vec<Delivery>, BusError>> {
        let result = self.try_next_batch(max).await;
        if result.is_err() {
            // Rebuilt on the next call.
            self.consumer = None;
        }
        Some(result)
    }

    /// Up to `max` messages JetStream has ready now, without waiting for any: the batch after the
    /// one the caller is handling. Empty when nothing is ready.
    pub(crate) async fn ready_batch(&mut self, max: usize) -> Result<Vec<Delivery>, BusError> {
        let consumer = self.consumer().await?;
        let ready = self.fetch_ready(&consumer, max).await;
        if ready.is_err() {
            // Rebuilt on the next call.
            self.consumer = None;
        }
        ready
    }

    async fn try_next_batch(&mut self, max: usize) -> Result<Vec<Delivery>, BusError> {
        let consumer = self.consumer().await?;
        let ready = self.fetch_ready(&consumer, max).await?;
        if !ready.is_empty() {
            return Ok(ready);
        }
        let mut waiting = consumer
            .batch()
            .max_messages(1)
            .expires(IDLE_WAIT)
            .messages()
            .await
            .map_err(BusError::Pull)?;
        while let Some(message) = waiting.next().await {
            let message = message.map_err(BusError::PullMessage)?;
            let Some(first) = self.delivery(message).await else {
                continue;
            };
            let mut batch = vec![first];
            if max > 1 {
                match self.fetch_ready(&consumer, max - 1).await {
                    Ok(more) => batch.extend(more),
                    // The one in hand goes alone; the next call meets the failure again.
                    Err(err) => tracing::debug!(error = %err, "could not fetch more of a batch"),
                }
            }
            return Ok(batch);
        }
        Ok(Vec::new())
    }

    /// Up to `max` messages JetStream has ready now, without waiting for more.
    async fn fetch_ready(&self, consumer: &PullConsumer, max: usize) -> Result<Vec<Delivery>, BusError> {
        let mut messages = consumer
            .fetch()
            .max_messages(max)
            .messages()
            .await
            .map_err(BusError::Pull)?;
        let mut ready = Vec::new();
        loop {
            let message = match tokio::time::timeout(READY_ANSWER_WAIT, messages.next()).await {
                Ok(Some(message)) => message,
                Ok(None) => break,
                Err(_) => {
                    tracing::debug!(consumer = %self.name, ready = ready.len(), "no answer to a request for ready events; asking anew");
                    break;
                }
            };
            // On a failure the ones in hand are dropped, which naks them: they come again first.
            let message = message.map_err(BusError::PullMessage)?;
            ready.extend(self.delivery(message).await);
        }
        Ok(ready)
    }

    /// The message as a delivery, or `None` when there is nothing to handle in it (it is settled).
    async fn delivery(&self, message: jetstream::Message) -> Option<Delivery> {
        match Envelope::from_json(&message.payload) {
            Ok(envelope) if refused_off_its_subject(&message.subject, &envelope, &self.bus.inner.prefix) => {
                let _ = message.ack_with(AckKind::Term).await;
                None
            }
            Ok(envelope) if self.filter.matches(&envelope) => {
                let published_ms = message.info().ok().map(|info| published_ms(&info));
                let acker = DeliveryAcker::Nats(Acker::new(message));
                Some(Delivery {
                    envelope,
                    published_ms,
                    acker,
                })
            }
            Ok(_) => {
                // Only when a subject and its envelope disagree; nothing to handle.
                let _ = message.ack().await;
                None
            }
            Err(err) => {
                tracing::error!(subject = %message.subject, error = %err, "dropping an undecodable event");
                let _ = message.ack_with(AckKind::Term).await;
                None
            }
        }
    }
}

/// When JetStream stored a message, in milliseconds since the Unix epoch (rounded down, as
/// JetStream's own start-time comparison effectively rounds `since`).
fn published_ms(info: &jetstream::message::Info<'_>) -> i64 {
    // `published` is a `time::OffsetDateTime` unless something enables async-nats' `chrono`
    // feature; this stops compiling then, rather than misreading the time.
    let nanos = info.published.unix_timestamp_nanos();
    i64::try_from(nanos.div_euclid(1_000_000)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
