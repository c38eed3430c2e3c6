//! Integration tests of the outbox, relay, both buses and the consumer loop, against real SQLite,
//! PostgreSQL and NATS JetStream, the replays and projections built on the buses, and the dead
//! letters of the relay and the consumers.

// Tests and benchmarks start their own helpers (receivers, fake peers, a service under test) with
// `tokio::spawn` and await or abort the handles themselves; `latchkey_server::Tasks` (which
// clippy.toml makes the only way in the crates' own code) is for what a service runs.
#![allow(clippy::disallowed_methods)]

mod access;
mod batches;
mod dead_consumer;
mod dead_relay;
mod durable;
mod live;
mod projection;
mod relay;
mod replay;
mod restart;
mod stream_settings;
mod support;
mod trace;
