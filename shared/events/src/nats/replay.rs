//! Replays on JetStream: an ephemeral ordered pull consumer starting at a publish time. The
//! client library recreates it after a gap, resuming after the last stream sequence it delivered;
//! when its message stream fails, or the client has reconnected (a restarted broker has forgotten
//! the consumer), the replay opens a new one from that sequence itself. Nothing is skipped or
//! repeated either way.

use std::{sync::atomic::Ordering, time::Duration};

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use futures::StreamExt;

use super::{NatsBus, published_ms, refused_off_its_subject};
use crate::{BusError, Envelope, EventFilter, delivery::Acker as DeliveryAcker, delivery::Delivery, delivery::Step};

/// The longest pull request the consumer accepts. It also sets the idle heartbeat (half of it), so
/// a dead connection is noticed within seconds rather than the library's default half minute.
const PULL_EXPIRES: Duration = Duration::from_secs(10);
/// How often an idle replay checks whether the client has reconnected. Left to itself, the
/// library notices a consumer lost with its broker only after about fifteen seconds.
const RECONNECT_CHECK: Duration = Duration::from_millis(500);

/// A replay of the stream from a publish time on.
pub(crate) struct Replay {
    bus: NatsBus,
    filter: EventFilter,
    /// Events published before this (ms since the epoch) are skipped.
    since_ms: i64,
    messages: Option<Box<pull::Ordered>>,
    /// How many times the client had connected when `messages` was opened.
    connects: u64,
    /// The stream sequence of the last message received: where a reopened stream resumes.
    last_stream_sequence: Option<u64>,
    /// Matching messages stored when the replay started and not yet received.
    history_left: u64,
    caught_up_reported: bool,
}

impl NatsBus {
    pub(crate) async fn replay(&self, filter: EventFilter, since_ms: i64) -> Result<Replay, BusError> {
        let mut replay = Replay {
            bus: self.clone(),
            filter,
            since_ms,
            messages: None,
            connects: connects(self),
            last_stream_sequence: None,
            history_left: 0,
            caught_up_reported: false,
        };
        let (messages, pending) = open(self, &replay.filter, replay.start()?).await?;
        replay.messages = Some(messages);
        replay.history_left = pending;
        Ok(replay)
    }
}

/// Creates an ordered consumer of `filter` starting at `deliver_policy`, and its message stream;
/// also returns how many matching messages it has to deliver right now.
async fn open(
    bus: &NatsBus,
    filter: &EventFilter,
    deliver_policy: DeliverPolicy,
) -> Result<(Box<pull::Ordered>, u64), BusError> {
    let bus = &bus.inner;
    let config = pull::OrderedConfig {
        // Named, so the create request's subject carries the filter (an unnamed consumer's does
        // not): the broker can then allow a service to replay only its own filters (`access`).
        name: Some(format!("replay-{}", uuid::Uuid::now_v7().simple())),
        // nats-server 2.9 takes one filter subject per consumer; none means the whole stream.
        filter_subject: match filter.pattern() {
            None => String::new(),
            Some(_) => filter.subject_under(&bus.prefix),
        },
        deliver_policy,
        max_expires: PULL_EXPIRES,
        ..Default::default()
    };
    let consumer = bus
        .jetstream
        .create_consumer_on_stream(config, &bus.stream_name)
        .await?;
    let pending = consumer.cached_info().num_pending;
    let messages = consumer.messages().await?;
    Ok((Box::new(messages), pending))
}

/// How many times the bus's client has connected, the first time included.
fn connects(bus: &NatsBus) -> u64 {
    bus.inner.client.statistics().connects.load(Ordering::Relaxed)
}

/// Resolves once the client has connected again since it had connected `seen` times.
async fn reconnected(bus: &NatsBus, seen: u64) {
    loop {
        tokio::time::sleep(RECONNECT_CHECK).await;
        if connects(bus) != seen {
            return;
        }
    }
}

impl Replay {
    /// Where a (re)opened message stream starts: after the last message received, or at `since`.
    fn start(&self) -> Result<DeliverPolicy, BusError> {
        Ok(match self.last_stream_sequence {
            Some(sequence) => DeliverPolicy::ByStartSequence {
                start_sequence: sequence + 1,
            },
            None => DeliverPolicy::ByStartTime {
                start_time: async_nats::datetime::from_nanos(i128::from(self.since_ms) * 1_000_000)
                    .map_err(|_| BusError::ReplayStart(self.since_ms))?,
            },
        })
    }

    pub(crate) async fn next(&mut self) -> Option<Result<Step, BusError>> {
        loop {
            if !self.caught_up_reported && self.history_left == 0 {
                self.caught_up_reported = true;
                return Some(Ok(Step::CaughtUp));
            }
            let messages = match &mut self.messages {
                Some(messages) => messages,
                None => {
                    self.connects = connects(&self.bus);
                    let opened = match self.start() {
                        Ok(start) => open(&self.bus, &self.filter, start).await,
                        Err(err) => Err(err),
                    };
                    match opened {
                        Ok((messages, _)) => self.messages.insert(messages),
                        Err(err) => return Some(Err(err)),
                    }
                }
            };
            let next = tokio::select! {
                message = messages.next() => Some(message),
                () = reconnected(&self.bus, self.connects) => None,
            };
            let Some(next) = next else {
                self.messages = None;
                continue;
            };
            let message = match next {
                Some(Ok(message)) => message,
                Some(Err(err)) => {
                    self.messages = None;
                    return Some(Err(err.into()));
                }
                None => {
                    self.messages = None;
                    return Some(Err(BusError::MessagesEnded));
                }
            };
            let (stream_sequence, pending, published_ms) = match message.info() {
                Ok(info) => (info.stream_sequence, info.pending, published_ms(&info)),
                Err(err) => {
                    tracing::warn!(subject = %message.subject, error = %err, "ignoring a replayed message without JetStream metadata");
                    continue;
                }
            };
            self.last_stream_sequence = Some(stream_sequence);
            if pending == 0 {
                // Nothing more stored: whatever existed at the start has been received.
                self.history_left = 0;
            }
            // The library recreates a consumer that failed before its first message from the
            // start of the stream, so older events can come here.
            if published_ms < self.since_ms {
                continue;
            }
            self.history_left = self.history_left.saturating_sub(1);
            match Envelope::from_json(&message.payload) {
                Ok(envelope) if refused_off_its_subject(&message.subject, &envelope, &self.bus.inner.prefix) => {}
                Ok(envelope) if self.filter.matches(&envelope) => {
                    return Some(Ok(Step::Event(Delivery {
                        envelope,
                        published_ms: Some(published_ms),
                        acker: DeliveryAcker::Live,
                    })));
                }
                // Only when a subject and its envelope disagree; nothing to replay.
                Ok(_) => {}
                Err(err) => tracing::error!(subject = %message.subject, error = %err, "skipping an undecodable event"),
            }
        }
    }
}
