//! Integration tests of the outbox, relay, both buses and the consumer loop, against real SQLite,
//! PostgreSQL and NATS JetStream, and the replays and projections built on the buses.

mod batches;
mod durable;
mod live;
mod projection;
mod relay;
mod replay;
mod restart;
mod support;
mod trace;
