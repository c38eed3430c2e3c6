//! The audit service's consumer against real NATS JetStream and PostgreSQL: events come in
//! batches, a failing batch comes again and lands once, and a consumer killed in the middle of a
//! batch leaves every event exactly once in the chain after it restarts. Without a vault no
//! checkpoint key is ever made.

mod consumer;
mod keys;
mod support;
