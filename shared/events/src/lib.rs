//! Domain events: the envelope and catalogue, the transactional outbox and its relay, and the event
//! bus with its two implementations: NATS JetStream for the mesh and a durable in-process bus for
//! `latchkey dev`. Both give the same contract: a published event is stored before `publish`
//! returns, deduplicated by id, and delivered at least once to every durable consumer, which
//! acknowledges only after handling it.

pub mod catalogue;
mod envelope;
pub mod outbox;

pub use catalogue::{DomainEvent, EventType};
pub use envelope::Envelope;
pub use outbox::Outbox;
