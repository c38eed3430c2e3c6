//! Dead letters: an event that keeps failing is moved aside, so the queue behind it moves on. The
//! relay moves an outbox row the bus keeps refusing; a durable consumer moves an event its handler
//! keeps failing on. Both land in `latchkey_dead_letters` with the envelope, where it died, the
//! last error and the tries, and announce it (`event.dead_lettered`, a metric, an error log).
//! Revocations get a larger budget, and overtake a refused row in the relay (docs/events.md).

mod sanitize;
mod store;

use latchkey_storage::{Migration, migrations};
use serde::Deserialize;

pub use sanitize::sanitize_error;
pub(crate) use store::NewDeadLetter;
pub use store::{DeadLetter, DeadLetterError, DeadLetters, Retried};

use crate::EventType;

/// The dead-letter table's migrations, applied under the service name `dead_letters` wherever an
/// outbox or a bus's dead letters live.
pub const MIGRATIONS: &[Migration] = migrations![(1, "0001_dead_letters")];

/// How many tries an event gets before it is dead-lettered (`[events]` in the settings file).
/// A value of 0 counts as 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Refusals of one outbox row by the bus (not outages: see [`crate::run_relay`]).
    pub relay_max_attempts: u32,
    /// Handler failures of one event in a durable consumer.
    pub consumer_max_attempts: u32,
    /// Either of the above, for a revocation-class event ([`REVOCATIONS`]).
    pub revocation_max_attempts: u32,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            relay_max_attempts: 10,
            consumer_max_attempts: 10,
            revocation_max_attempts: 50,
        }
    }
}

impl EventsConfig {
    /// The relay's budget for an event of `event_type`.
    pub(crate) fn relay_limit(&self, event_type: &str) -> u32 {
        let limit = if is_revocation(event_type) {
            self.revocation_max_attempts
        } else {
            self.relay_max_attempts
        };
        limit.max(1)
    }

    /// A consumer's budget for an event of `event_type`.
    pub(crate) fn consumer_limit(&self, event_type: &str) -> u32 {
        let limit = if is_revocation(event_type) {
            self.revocation_max_attempts
        } else {
            self.consumer_max_attempts
        };
        limit.max(1)
    }
}

/// The revocation class: events that take access away (a token, an agent, an API key, an OAuth
/// connection), where a lost or late event could leave that access alive in a cache or verifier
/// fed by the event stream. They get `revocation_max_attempts`, and a refused row in the relay
/// does not hold them back.
pub const REVOCATIONS: &[EventType] = &[
    EventType::TokenRevoked,
    EventType::AgentRevoked,
    EventType::AgentPaused,
    EventType::ApiKeyDeleted,
    EventType::ConnectionRevoked,
];

/// Whether `event_type` is in the revocation class.
pub fn is_revocation(event_type: &str) -> bool {
    REVOCATIONS.iter().any(|revocation| revocation.as_str() == event_type)
}

/// Where an event died: the relay of an outbox `source`, or a durable consumer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Relay(String),
    Consumer(String),
}

impl Location {
    /// `relay:<source>` or `consumer:<name>`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.split_once(':')? {
            ("relay", source) => Some(Self::Relay(source.to_owned())),
            ("consumer", name) => Some(Self::Consumer(name.to_owned())),
            _ => None,
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Relay(source) => write!(f, "relay:{source}"),
            Self::Consumer(name) => write!(f, "consumer:{name}"),
        }
    }
}

/// What a bus's relays and consumers do with events that keep failing: the budgets, and where a
/// consumer's dead letters go (`None`: it keeps retrying, as it has nowhere to put them).
#[derive(Clone, Debug, Default)]
pub(crate) struct DeadLetterSetup {
    pub(crate) config: EventsConfig,
    pub(crate) store: Option<DeadLetters>,
}

/// Counts and reports one dead letter: the metric, and the error log every alert can match on.
pub(crate) fn report(letter: &NewDeadLetter<'_>) {
    let revocation = is_revocation(letter.event_type);
    metrics::counter!(
        crate::metric_names::EVENTS_DEAD_LETTERED,
        "location" => letter.location.to_string(),
        "revocation" => if revocation { "true" } else { "false" },
    )
    .increment(1);
    tracing::error!(
        event_id = letter.event_id,
        event_type = letter.event_type,
        account = letter.account,
        location = %letter.location,
        tries = letter.tries,
        revocation,
        error = %letter.error,
        "event dead-lettered: moved aside after it kept failing; `latchkey events dead-letters retry` puts it back"
    );
}

/// The `event.dead_lettered` event announcing `letter`, under the dead event's account; `None` for
/// a dead `event.dead_lettered`, so a failing consumer of those cannot feed itself.
pub(crate) fn announcement(source: &str, letter: &NewDeadLetter<'_>) -> Option<crate::Envelope> {
    if letter.event_type == EventType::EventDeadLettered.as_str() {
        return None;
    }
    let payload = crate::catalogue::EventDeadLettered {
        event_id: letter.event_id.to_owned(),
        event_type: letter.event_type.to_owned(),
        account: letter.account.to_owned(),
        location: letter.location.to_string(),
        tries: letter.tries,
    };
    Some(crate::Envelope::new(source, letter.account, Some("system"), &payload))
}

#[cfg(test)]
mod tests;
