//! The policy service as the gateway and agent-token call it: over gRPC, on a port of its own, with
//! a fresh database on each backend and an in-process bus.

// Tests start the service under test with `tokio::spawn` and stop it with its shutdown token;
// `latchkey_server::Tasks` (which clippy.toml makes the only way in the crates' own code) is for
// what a service runs.
#![allow(clippy::disallowed_methods)]

mod decisions;
mod ids;
mod support;
