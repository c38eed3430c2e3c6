//! The restore drill of docs/operations.md, performed: a mesh's PostgreSQL database backed up with
//! pg_dump and its JetStream store copied while NATS is stopped; both wiped; both restored; the
//! mesh started again on them. The audit chain verifies with every entry it had, and new events
//! go on from where it ended, once each.

use std::time::Duration;

use latchkey_test_support::{PostgresServer, eventually};
use serde_json::{Value, json};

use crate::process_mesh::ProcessMesh;

async fn get(http: &reqwest::Client, base: &str, key: &str, path: &str) -> Value {
    http.get(format!("{base}{path}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap_or_default()
}

async fn chain_length(http: &reqwest::Client, base: &str, key: &str) -> i64 {
    get(http, base, key, "/v1/audit/verify").await["entries_checked"]
        .as_i64()
        .unwrap_or(-1)
}

async fn create_keys(http: &reqwest::Client, base: &str, key: &str, prefix: &str, count: usize) {
    for i in 0..count {
        let created = http
            .post(format!("{base}/v1/api-keys"))
            .bearer_auth(key)
            .json(&json!({"name": format!("{prefix}-{i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
    }
}

#[tokio::test]
async fn a_backup_of_postgres_and_jetstream_restores_a_chain_that_verifies_and_goes_on() {
    let postgres = PostgresServer::spawn();
    postgres.create_database("latchkey");
    let mut nats = crate::nats_users::mesh_nats().await;
    let mesh = ProcessMesh::start(&postgres.url("latchkey"), &nats.url(), |_| 1, &[]).await;
    let key = mesh.create_account("Backed up");
    let http = reqwest::Client::new();
    let base = mesh.gateway(0);
    create_keys(&http, &base, &key, "before", 20).await;
    // The account's creation, its bootstrap key, and the 20 keys.
    let filled = eventually(Duration::from_secs(60), || async {
        chain_length(&http, &base, &key).await >= 22
    })
    .await;
    assert!(filled, "the chain did not fill");
    let before = get(&http, &base, &key, "/v1/audit/verify").await;
    assert_eq!(before["valid"], true, "{before}");

    // Back up: PostgreSQL online with pg_dump; JetStream's store copied with its server stopped.
    let backups = tempfile::tempdir().unwrap();
    let dump = backups.path().join("latchkey.dump");
    postgres.dump("latchkey", &dump);
    drop(mesh);
    nats.stop();
    let stream_copy = backups.path().join("jetstream");
    copy_dir(&nats.store_dir(), &stream_copy);

    // Disaster: both are gone.
    postgres.psql("postgres", "DROP DATABASE latchkey");
    std::fs::remove_dir_all(nats.store_dir()).unwrap();

    // Restore, and start the mesh on what came back.
    postgres.create_database("latchkey");
    postgres.restore("latchkey", &dump);
    copy_dir(&stream_copy, &nats.store_dir());
    nats.start().await;
    let mesh = ProcessMesh::start(&postgres.url("latchkey"), &nats.url(), |_| 1, &[]).await;
    let base = mesh.gateway(0);
    let after = get(&http, &base, &key, "/v1/audit/verify").await;
    assert_eq!(after["valid"], true, "{after}");
    assert_eq!(after["entries_checked"], before["entries_checked"]);
    assert_eq!(
        after["head"], before["head"],
        "the restored chain ends where the backup did"
    );

    // New events go on from there, once each.
    create_keys(&http, &base, &key, "after", 5).await;
    let expected = before["entries_checked"].as_i64().unwrap() + 5;
    let grown = eventually(Duration::from_secs(60), || async {
        chain_length(&http, &base, &key).await >= expected
    })
    .await;
    assert!(grown, "new events did not reach the restored chain");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let last = get(&http, &base, &key, "/v1/audit/verify").await;
    assert_eq!(last["valid"], true, "{last}");
    assert_eq!(last["entries_checked"].as_i64(), Some(expected), "no event twice");
}

/// `cp -a from to`.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success(), "copy {} to {}", from.display(), to.display());
}
