//! Domain events: the envelope and catalogue, the transactional outbox and its relay, and the event
//! bus with its two implementations: NATS JetStream for the mesh and a durable in-process bus for
//! `latchkey dev`. Both give the same contract: a published event is stored before `publish`
//! returns, deduplicated by id, and delivered at least once to every durable consumer, which
//! acknowledges only after handling it. Replays rebuild in-memory projections from the stored
//! events and keep them current ([`EventBus::replay`], [`run_projection`]); live subscriptions
//! keep caches honest, saying when they may have missed events ([`EventBus::live`], [`LiveFeed`]). An
//! event that keeps failing, in the relay or a consumer, is moved to a dead-letter table
//! ([`dead_letter`]).

pub mod access;
mod backoff;
mod bus;
pub mod catalogue;
mod consumer;
pub mod dead_letter;
mod delivery;
mod envelope;
mod error;
mod filter;
mod live_cache;
mod local;
mod nats;
pub mod outbox;
mod projection;
mod relay;

pub use bus::{ConsumerState, EventBus, LocalBus, NatsBus, NatsConnection, StreamSettings, Subscription};
pub use catalogue::{DomainEvent, EventType};
pub use consumer::{run_batch_consumer, run_consumer};
pub use dead_letter::{DeadLetter, DeadLetters, EventsConfig};
pub use delivery::{Batch, Delivery, Step};
pub use envelope::Envelope;
pub use error::BusError;
pub use filter::EventFilter;
pub use live_cache::{LiveCache, LiveFeed};
pub use outbox::{GroupCommitFailed, Outbox};
pub use projection::run_projection;
pub use relay::run_relay;

/// The metrics this crate records, in Prometheus naming.
pub mod metric_names {
    /// Events the relay published and the bus acknowledged, by `source`.
    pub const EVENTS_PUBLISHED: &str = "latchkey_events_published_total";
    /// Events a durable consumer handled and acknowledged, by `consumer`.
    pub const EVENTS_CONSUMED: &str = "latchkey_events_consumed_total";
    /// Handler failures (the event comes again), by `consumer`.
    pub const EVENTS_FAILED: &str = "latchkey_events_failed_total";
    /// Events moved to a dead-letter table, by `location` (`relay:<source>`, `consumer:<name>`)
    /// and `revocation` (`true` for the revocation class).
    pub const EVENTS_DEAD_LETTERED: &str = "latchkey_events_dead_lettered_total";
    /// Rows waiting in a service's outbox to be published, by `source`: sampled by the relaying
    /// replica.
    pub const OUTBOX_BACKLOG: &str = "latchkey_outbox_backlog";
    /// A durable consumer's state on the bus, by `consumer`: events not yet handed to it (its
    /// lag), handed and not acknowledged, and redelivered among those (JetStream only).
    pub const CONSUMER_PENDING: &str = "latchkey_consumer_pending";
    pub const CONSUMER_UNACKNOWLEDGED: &str = "latchkey_consumer_unacknowledged";
    pub const CONSUMER_REDELIVERED: &str = "latchkey_consumer_redelivered";
}
