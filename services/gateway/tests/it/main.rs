//! The gateway's integration tests: the real router and middleware, real gRPC to in-memory
//! services, a real in-process event bus.

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
