//! The policy service as the gateway and agent-token call it: over gRPC, on a port of its own, with
//! a fresh database on each backend and an in-process bus.

mod decisions;
mod support;
