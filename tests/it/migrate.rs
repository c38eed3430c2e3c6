//! `latchkey migrate <service>`, as the Kubernetes Job of deploy/k8s runs it: the database URL from
//! a mounted file, every service with a database, twice at once and again, and a service started
//! afterwards finds nothing left to apply.

use std::process::{Command, Output};

use latchkey_storage::{Backend, Db, sqlx};
use latchkey_test_support::TestDatabase;

use crate::binary::BINARY;

fn migrate(service: &str, url_file: &std::path::Path) -> std::process::Child {
    Command::new(BINARY)
        .args(["migrate", service])
        .env("LATCHKEY__DATABASE__URL_FILE", url_file)
        .env("LATCHKEY__TELEMETRY__LOG_FILTER", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run latchkey migrate")
}

fn succeeded(output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Every (schema, newest version) applied to the database.
async fn applied(db: &Db) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT service, MAX(version) FROM latchkey_migrations GROUP BY service ORDER BY service")
        .fetch_all(db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn migrate_applies_each_services_schema_once_from_a_url_file() {
    let database = TestDatabase::new(Backend::Postgres).await;
    let secrets = tempfile::tempdir().unwrap();
    let url_file = secrets.path().join("database-url");
    // As a secret mount leaves it: the URL and a trailing newline.
    std::fs::write(&url_file, format!("{}\n", database.url())).unwrap();
    let db = Db::connect(database.url()).await.unwrap();

    // `latchkey migrate` accepts every service with a database.
    for service in crate::process_mesh::grpc_services() {
        // Two at once, as the Job beside a replica starting: each migration is applied once.
        let (first, second) = (migrate(service, &url_file), migrate(service, &url_file));
        let outputs = [first, second].map(|child| succeeded(child.wait_with_output().unwrap()));
        assert_eq!(outputs[0], outputs[1], "{service}: both runs see the same schema");
        let reported: Vec<&str> = outputs[0].lines().collect();
        assert!(
            reported
                .iter()
                .any(|line| line.starts_with(&format!("{service}: {service} at version "))),
            "{service}: {reported:?}"
        );
        assert!(
            reported.contains(&format!("{service}: dead_letters at version 1").as_str()),
            "{service}: {reported:?}"
        );
        if service != "audit" {
            // Every service but audit publishes events through its outbox.
            assert!(
                reported.contains(&format!("{service}: outbox at version 1").as_str()),
                "{service}: {reported:?}"
            );
        }
        let printed: Vec<(String, i64)> = reported
            .iter()
            .map(|line| {
                let (schema, version) = line
                    .strip_prefix(&format!("{service}: "))
                    .and_then(|rest| rest.split_once(" at version "))
                    .unwrap_or_else(|| panic!("{service}: {line:?}"));
                (schema.to_owned(), version.parse().unwrap())
            })
            .collect();
        assert_eq!(
            printed,
            applied(&db).await,
            "{service}: what it printed is in the database"
        );
    }
    let recorded: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM latchkey_migrations")
        .fetch_one(db.pool())
        .await
        .unwrap();

    // A service opened afterwards (as `serve` does at start) has nothing left to apply, and so has
    // `migrate` run again.
    latchkey_directory::Directory::open(db.clone(), latchkey_server::MeshAuth::new("migrate-test-token-0123"))
        .await
        .unwrap();
    succeeded(migrate("agent-token", &url_file).wait_with_output().unwrap());
    let after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM latchkey_migrations")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(after, recorded);
    db.close().await;
}

#[test]
fn migrate_refuses_the_gateway_and_a_service_without_a_database() {
    let gateway = Command::new(BINARY).args(["migrate", "gateway"]).output().unwrap();
    assert!(!gateway.status.success());
    let said = String::from_utf8_lossy(&gateway.stderr);
    assert!(said.contains("the gateway keeps no database"), "{said}");

    let nowhere = Command::new(BINARY)
        .args(["migrate", "vault"])
        .env_remove("LATCHKEY__DATABASE__URL")
        .env_remove("LATCHKEY__DATABASE__URL_FILE")
        .output()
        .unwrap();
    assert!(!nowhere.status.success());
    let said = String::from_utf8_lossy(&nowhere.stderr);
    assert!(said.contains("vault needs database.url"), "{said}");
}
