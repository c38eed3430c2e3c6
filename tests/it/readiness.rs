//! Readiness that means it, on `latchkey serve` processes: a service reports NOT_SERVING while its
//! database or NATS is down and SERVING again by itself when they are back; the gateway's /readyz
//! fails only for an essential service and names the others degraded; a call to a service that
//! never answers ends in 503 within the mesh's call deadline; and a stopping service turns
//! NOT_SERVING before it stops.

use std::time::{Duration, Instant};

use latchkey_test_support::{PostgresServer, eventually};
use serde_json::Value;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::process_mesh::ProcessMesh;

/// Whether `service` answers `wanted` within 20 s.
async fn turns(mesh: &ProcessMesh, service: &str, wanted: ServingStatus) -> bool {
    eventually(Duration::from_secs(20), || async {
        mesh.health(service, 0).await == Some(wanted)
    })
    .await
}

#[tokio::test]
async fn services_are_ready_only_while_their_database_and_nats_answer() {
    let mut postgres = PostgresServer::spawn();
    postgres.create_database("latchkey");
    let mut nats = crate::nats_users::mesh_nats().await;
    // A service that accepts connections and never answers: the policy service, as the gateway
    // sees it.
    let stuck = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stuck_url = format!("http://{}", stuck.local_addr().unwrap());
    let _held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((connection, _)) = stuck.accept().await {
            open.push(connection);
        }
    });
    let mut mesh = ProcessMesh::start(
        &postgres.url("latchkey"),
        &nats.url(),
        |_| 1,
        &[
            ("LATCHKEY__MESH__CALL_TIMEOUT_MS", "700"),
            ("LATCHKEY__SERVER__SHUTDOWN_DRAIN_SECS", "3"),
        ],
    )
    .await;
    let key = mesh.create_account("Ready");
    let http = reqwest::Client::new();
    let base = mesh.gateway(0);
    let readyz = || async {
        let answer = http.get(format!("{base}/readyz")).send().await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.json::<Value>().await.unwrap_or_default())
    };
    assert!(turns(&mesh, "policy", ServingStatus::Serving).await);

    // NATS goes away: every service that publishes or consumes says so, then recovers by itself.
    nats.stop();
    assert!(
        turns(&mesh, "policy", ServingStatus::NotServing).await,
        "policy stayed SERVING without NATS"
    );
    assert!(turns(&mesh, "agent-token", ServingStatus::NotServing).await);
    assert_eq!(readyz().await.0, 503, "agent-token is essential");
    nats.start().await;
    assert!(
        turns(&mesh, "policy", ServingStatus::Serving).await,
        "policy did not recover with NATS"
    );
    assert!(turns(&mesh, "agent-token", ServingStatus::Serving).await);
    mesh.wait_ready().await;

    // The same for the database.
    postgres.stop();
    assert!(
        turns(&mesh, "audit", ServingStatus::NotServing).await,
        "audit stayed SERVING without its database"
    );
    postgres.start();
    assert!(
        turns(&mesh, "audit", ServingStatus::Serving).await,
        "audit did not recover with its database"
    );
    mesh.wait_ready().await;

    // A non-essential service down: the gateway stays ready and names it.
    mesh.kill("webhook", 0);
    let degraded = eventually(Duration::from_secs(20), || async {
        let (status, body) = readyz().await;
        status == 200 && body["status"] == "degraded"
    })
    .await;
    assert!(degraded, "{:?}", readyz().await);
    let (_, body) = readyz().await;
    assert_eq!(body["degraded"][0]["service"], "latchkey.webhook.v1.WebhookService");

    // A stopping service turns NOT_SERVING first and keeps answering while it drains.
    let directory = mesh.pid("directory", 0).unwrap();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &directory.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    assert!(
        turns(&mesh, "directory", ServingStatus::NotServing).await,
        "a draining service must answer NOT_SERVING"
    );
    let gone = eventually(Duration::from_secs(20), || async {
        mesh.health("directory", 0).await.is_none()
    })
    .await;
    assert!(gone, "the directory did not stop after its drain");
    drop(mesh);

    // A gateway whose policy service never answers: 503 within the call deadline, not a hung request.
    let mesh = ProcessMesh::start(
        &postgres.url("latchkey"),
        &nats.url(),
        |_| 1,
        &[
            ("LATCHKEY__MESH__CALL_TIMEOUT_MS", "700"),
            ("LATCHKEY__MESH__POLICY_URL", stuck_url.as_str()),
        ],
    )
    .await;
    let started = Instant::now();
    let answer = http
        .get(format!("{}/v1/policies", mesh.gateway(0)))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(answer.status(), 503, "{}", answer.text().await.unwrap());
    assert!(took < Duration::from_secs(5), "the stuck call took {took:?}");
}
