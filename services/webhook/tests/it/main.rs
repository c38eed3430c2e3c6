//! The webhook service against real peers: real HTTP receivers on loopback, real NATS JetStream (a
//! server per test), SQLite and PostgreSQL. The service runs on a runtime of its own so a test can
//! kill it the way a crash would: every task dropped wherever it stands.

// Tests and benchmarks start their own helpers (receivers, fake peers, a service under test) with
// `tokio::spawn` and await or abort the handles themselves; `latchkey_server::Tasks` (which
// clippy.toml makes the only way in the crates' own code) is for what a service runs.
#![allow(clippy::disallowed_methods)]

mod burst;
mod delivery;
mod edge;
mod enable;
mod fanout;
mod paging;
mod restart;
mod ssrf;
mod support;
