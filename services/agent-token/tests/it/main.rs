//! The agent-token service as the gateway calls it: over gRPC, on a port of its own, with a fresh
//! database on each backend, its signing keys sealed in a vault of the test's own and every issue
//! decided by a real policy service.

mod support;
mod tokens;
