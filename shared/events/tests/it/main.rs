//! Integration tests of the outbox, relay, both buses and the consumer loop, against real SQLite,
//! PostgreSQL and NATS JetStream.

mod durable;
mod live;
mod relay;
mod restart;
mod support;
mod trace;
