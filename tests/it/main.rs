//! End-to-end tests of the whole mesh, as a client uses it: real SQLite and PostgreSQL, real NATS
//! JetStream (a server per test), real HTTP through the gateway.

// Tests and benchmarks start their own helpers (receivers, fake peers, a service under test) with
// `tokio::spawn` and await or abort the handles themselves; `latchkey_server::Tasks` (which
// clippy.toml makes the only way in the crates' own code) is for what a service runs.
#![allow(clippy::disallowed_methods)]

mod agent_context;
mod agents;
mod api_keys;
mod approvals;
mod audit;
mod backup;
mod bad_input;
mod binary;
mod certificates;
mod compose;
mod console;
mod console_sessions;
mod credentials;
mod dead_letters;
mod directory;
mod domains;
mod faults;
mod group_commit;
mod isolation;
mod leases;
mod mcp;
mod mesh_tls;
mod migrate;
mod nats_auth;
mod nats_users;
mod nothing_lost;
mod oauth;
mod otlp;
mod plans;
mod policies;
mod probes;
mod process_mesh;
mod proxy;
mod readiness;
mod reads_here;
mod reconnect;
mod schema_guard;
mod sealed_keys;
mod secret_files;
mod seed_examples;
mod support;
mod tokens;
mod trace;
mod trust;
mod verify;
pub(crate) mod webhooks;
