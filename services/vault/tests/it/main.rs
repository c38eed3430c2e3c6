//! The vault against real databases (SQLite and PostgreSQL) and, where it serves, over real gRPC.

// Tests and benchmarks start their own helpers (receivers, fake peers, a service under test) with
// `tokio::spawn` and await or abort the handles themselves; `latchkey_server::Tasks` (which
// clippy.toml makes the only way in the crates' own code) is for what a service runs.
#![allow(clippy::disallowed_methods)]

mod support;

mod isolation;
mod rotation;
mod secrets;
mod tampering;
