//! The gateway's integration tests: the real router and middleware, real gRPC to in-memory
//! services, a real in-process event bus.

// Tests and benchmarks start their own helpers (receivers, fake peers, a service under test) with
// `tokio::spawn` and await or abort the handles themselves; `latchkey_server::Tasks` (which
// clippy.toml makes the only way in the crates' own code) is for what a service runs.
#![allow(clippy::disallowed_methods)]

mod api_keys;
mod audit;
mod auth;
mod bad_input;
mod credentials;
mod failures;
mod fakes;
mod harness;
mod operations;
mod rate_limit;
mod serving;
mod timeouts;
