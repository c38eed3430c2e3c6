//! The HTTP probes of a gRPC service on `server.metrics_listen`, which deploy/k8s points the
//! kubelet at (it cannot present a mesh certificate to the gRPC health service): `/healthz` while
//! the process answers, `/readyz` only while the service serves, that is while its database and
//! NATS answer, and not once it is told to stop.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use latchkey_test_support::{NatsServer, TestDatabase, eventually};

use crate::binary::{BINARY, Process, free_port};

#[tokio::test]
async fn a_services_readyz_follows_its_dependencies_and_its_shutdown() {
    let database = TestDatabase::postgres().await;
    let mut nats = NatsServer::spawn().await;
    let (grpc, metrics) = (free_port(), free_port());
    let service = Process(
        Command::new(BINARY)
            .args(["serve", "directory"])
            .env("LATCHKEY__DATABASE__URL", database.url())
            .env("LATCHKEY__DATABASE__MAX_CONNECTIONS", "2")
            .env("LATCHKEY__NATS__URL", nats.url())
            .env("LATCHKEY__NATS__PREFIX", latchkey_test_support::unique_prefix())
            .env("LATCHKEY__MESH__SERVICE_TOKEN", "probes-test-token-0123456789")
            .env("LATCHKEY__MESH__ALLOW_PLAINTEXT", "true")
            .env("LATCHKEY__SERVER__LISTEN", format!("127.0.0.1:{grpc}"))
            .env("LATCHKEY__SERVER__METRICS_LISTEN", format!("127.0.0.1:{metrics}"))
            .env("LATCHKEY__SERVER__SHUTDOWN_DRAIN_SECS", "3")
            .env("LATCHKEY__TELEMETRY__LOG_FILTER", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run latchkey serve directory"),
    );
    let http = reqwest::Client::new();
    let status = |path: &'static str| {
        let http = http.clone();
        async move {
            match http.get(format!("http://127.0.0.1:{metrics}{path}")).send().await {
                Ok(answer) => Some(answer.status().as_u16()),
                Err(_) => None,
            }
        }
    };
    let becomes = |path: &'static str, wanted: Option<u16>| {
        let status = &status;
        async move { eventually(Duration::from_secs(30), || async { status(path).await == wanted }).await }
    };

    assert!(
        becomes("/readyz", Some(200)).await,
        "never ready: {:?}",
        status("/readyz").await
    );
    assert_eq!(status("/healthz").await, Some(200));

    nats.stop();
    assert!(becomes("/readyz", Some(503)).await, "ready without NATS");
    // Alive all the same: a liveness probe must not restart a process waiting for its peers.
    assert_eq!(status("/healthz").await, Some(200));
    nats.start().await;
    assert!(becomes("/readyz", Some(200)).await, "not ready again with NATS back");

    // Told to stop, it is not ready for the rest of its drain.
    let sent = Command::new("kill")
        .args(["-TERM", &service.0.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let unready = eventually(Duration::from_secs(10), || async {
        matches!(status("/readyz").await, Some(503) | None)
    })
    .await;
    assert!(unready, "still ready after SIGTERM");
    drop(service);
}
