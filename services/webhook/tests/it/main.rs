//! The webhook service against real peers: real HTTP receivers on loopback, real NATS JetStream (a
//! server per test), SQLite and PostgreSQL. The service runs on a runtime of its own so a test can
//! kill it the way a crash would: every task dropped wherever it stands.

mod burst;
mod delivery;
mod enable;
mod restart;
mod ssrf;
mod support;
