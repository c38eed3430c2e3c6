//! Integration tests of the outbox, relay, both buses and the consumer loop, against real SQLite,
//! PostgreSQL and NATS JetStream, the replays and projections built on the buses, and the dead
//! letters of the relay and the consumers.

mod batches;
mod dead_consumer;
mod dead_relay;
mod durable;
mod live;
mod projection;
mod relay;
mod replay;
mod restart;
mod support;
mod trace;
