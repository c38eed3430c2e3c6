//! The oauth service as the gateway calls it: over gRPC, on a port of its own, with a fresh
//! database on each backend, a vault of the test's own and an in-process bus.

// Tests start the service under test with `tokio::spawn` and stop it with its shutdown token;
// `latchkey_server::Tasks` (which clippy.toml makes the only way in the crates' own code) is for
// what a service runs.
#![allow(clippy::disallowed_methods)]

mod catalogue;
mod connections;
mod isolation;
mod links;
mod mtproto;
mod redirects;
mod support;
