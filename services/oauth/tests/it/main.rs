//! The oauth service as the gateway calls it: over gRPC, on a port of its own, with a fresh
//! database on each backend, a vault of the test's own and an in-process bus.

mod catalogue;
mod support;
