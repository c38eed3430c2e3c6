//! The agent-token service as the gateway calls it: over gRPC, on a port of its own, with a fresh
//! database on each backend, its signing keys sealed in a vault of the test's own and every issue
//! decided by a real policy service.

// Tests start the service under test with `tokio::spawn` and stop it with its shutdown token;
// `latchkey_server::Tasks` (which clippy.toml makes the only way in the crates' own code) is for
// what a service runs.
#![allow(clippy::disallowed_methods)]

mod certificates;
mod domains;
mod ids;
mod jws;
mod support;
mod tokens;
