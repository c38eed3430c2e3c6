//! The audit service's consumer against real NATS JetStream and PostgreSQL: events come in
//! batches, a failing batch comes again and lands once, and a consumer killed in the middle of a
//! batch leaves every event exactly once in the chain after it restarts. Without a vault no
//! checkpoint key is ever made.

// Tests and benchmarks start their own helpers (receivers, fake peers, a service under test) with
// `tokio::spawn` and await or abort the handles themselves; `latchkey_server::Tasks` (which
// clippy.toml makes the only way in the crates' own code) is for what a service runs.
#![allow(clippy::disallowed_methods)]

mod consumer;
mod keys;
mod support;
