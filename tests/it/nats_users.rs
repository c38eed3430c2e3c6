//! NATS as a deployment runs it: a user per service allowed only its own subjects, the authorization
//! `latchkey nats-config` prints. Every process of a [`ProcessMesh`](crate::process_mesh::ProcessMesh)
//! connects as its service's user with the password here (a server without authorization ignores
//! it), and [`mesh_nats`] and [`mesh_nats_cluster`] start servers that admit exactly those users,
//! plus an administrator for the tests' own look at the stream.

use std::path::Path;

use latchkey::nats_config::{Credential, authorization, variable};
use latchkey_events::access::SERVICES;
use latchkey_test_support::{NatsCluster, NatsServer};

/// The subject prefix process meshes run under (the default `nats.prefix`).
pub(crate) const MESH_PREFIX: &str = "latchkey";

/// The tests' own user, with every permission: never a service's.
pub(crate) const ADMIN: (&str, &str) = ("test-admin", "test-admin-password-0123");

/// The password of `service`'s NATS user in the tests: known to the test, not a secret.
pub(crate) fn password(service: &str) -> String {
    format!("nats-{service}-test-password")
}

/// The settings a `latchkey serve <service>` process connects to NATS with.
pub(crate) fn process_settings(service: &str) -> [(String, String); 2] {
    [
        ("LATCHKEY__NATS__USER".to_owned(), service.to_owned()),
        ("LATCHKEY__NATS__PASSWORD".to_owned(), password(service)),
    ]
}

/// A server configuration admitting the services' users under `prefix` with their permissions,
/// their passwords defined above the block as a secret file would, and [`ADMIN`].
pub(crate) fn server_config(prefix: &str) -> String {
    let mut config = String::new();
    for access in SERVICES {
        let name = variable(access.service, Credential::Password);
        config.push_str(&format!("{name}: {:?}\n", password(access.service)));
    }
    let admin = format!("    {{ user: {:?}, password: {:?} }}\n", ADMIN.0, ADMIN.1);
    let block = authorization(prefix, Credential::Password);
    config.push_str(&block.replacen("  users: [\n", &format!("  users: [\n{admin}"), 1));
    config
}

/// A nats-server admitting only the mesh's users (and [`ADMIN`]).
pub(crate) async fn mesh_nats() -> NatsServer {
    NatsServer::spawn_with_config(&server_config(MESH_PREFIX)).await
}

/// A three-node cluster admitting only the mesh's users (and [`ADMIN`]).
pub(crate) async fn mesh_nats_cluster() -> NatsCluster {
    NatsCluster::spawn_with_config(&server_config(MESH_PREFIX)).await
}

/// Options connecting as [`ADMIN`].
pub(crate) fn admin() -> async_nats::ConnectOptions {
    async_nats::ConnectOptions::with_user_and_password(ADMIN.0.to_owned(), ADMIN.1.to_owned())
}

/// The permissions violations a server logged: a service using a subject its user may not.
pub(crate) fn violations(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains("Violation"))
        .map(str::to_owned)
        .collect()
}
