//! What every test suite of the workspace stands on, in one place (a dev-dependency only): a fresh
//! database per test on either backend, an event bus of the test's own (a stream or subject prefix
//! no other test uses, or a nats-server of its own), waiting on a condition with a deadline instead
//! of a fixed sleep, a service on a runtime a test can kill as a crash would, and the capture of
//! every log line and span that fails a test when a secret shows up in them, and a DNS server
//! (dnsmasq) serving a test's own TXT records. With the `mesh`
//! feature: a vault on loopback and the mesh clients a service's suite calls it with.

// Tests only: the tasks started here (proxies, a test's vault) live as long as the test's runtime,
// so the workspace's ban on bare spawns (clippy.toml; services use latchkey_server::Tasks) does not
// apply.
#![allow(clippy::disallowed_methods)]

mod bus;
pub mod captured;
mod database;
mod dns;
#[cfg(feature = "mesh")]
pub mod mesh;
mod nats;
mod nats_cluster;
#[cfg(feature = "oidc")]
pub mod oidc_peer;
mod own_runtime;
mod postgres;
mod proxy;
mod wait;

pub use bus::{BusKind, TestBus};
pub use database::{BACKENDS, TestDatabase, postgres_admin_url};
pub use dns::{DnsServer, TxtRecord};
pub use nats::{NatsServer, nats_bus, nats_url, unique_prefix};
pub use nats_cluster::NatsCluster;
pub use own_runtime::RunningConsumer;
pub use postgres::PostgresServer;
pub use proxy::TcpProxy;
pub use wait::{eventually, read_until};
