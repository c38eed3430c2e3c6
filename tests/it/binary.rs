//! The real `latchkey` binary, as an operator runs it: `latchkey dev` on a fresh data directory
//! and again on the same one, and the mesh as separate `latchkey serve` processes on PostgreSQL and
//! NATS, each answering the gRPC health protocol.

use std::{
    collections::BTreeMap,
    os::unix::fs::PermissionsExt,
    process::{Child, Command, Stdio},
    time::Duration,
};

use latchkey_proto::policy::v1::{DescribeRequest, policy_service_client::PolicyServiceClient};
use latchkey_test_support::{TestDatabase, eventually};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

pub(crate) const BINARY: &str = env!("CARGO_BIN_EXE_latchkey");

/// A child process killed on drop, so a failing test leaves nothing running.
pub(crate) struct Process(pub(crate) Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) async fn ready(http: &reqwest::Client, base: &str) -> bool {
    eventually(Duration::from_secs(60), || async {
        matches!(http.get(format!("{base}/readyz")).send().await, Ok(r) if r.status() == 200)
    })
    .await
}

fn dev(data_dir: &std::path::Path, port: u16) -> Process {
    dev_with(data_dir, port, &[])
}

/// `latchkey dev` with settings from the environment, as an operator gives them.
fn dev_with(data_dir: &std::path::Path, port: u16, settings: &[(&str, &str)]) -> Process {
    Process(
        Command::new(BINARY)
            .args(["dev", "--data-dir"])
            .arg(data_dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("LATCHKEY__TELEMETRY__LOG_FILTER", "warn")
            .envs(settings.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run latchkey dev"),
    )
}

#[tokio::test]
async fn latchkey_dev_bootstraps_once_and_keeps_its_data_across_restarts() {
    let data_dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");

    let first = dev(data_dir.path(), port);
    assert!(ready(&http, &base).await, "latchkey dev never became ready");
    let key_file = data_dir.path().join("bootstrap.key");
    // Ready means the bootstrap key is already written.
    let key = std::fs::read_to_string(&key_file).unwrap().trim().to_owned();
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let created = http
        .post(format!("{base}/v1/api-keys"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"name": "survives restarts"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    drop(first);

    let _second = dev(data_dir.path(), port);
    assert!(ready(&http, &base).await, "latchkey dev did not come back");
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap().trim(),
        key,
        "the bootstrap key is reused"
    );
    let listed: serde_json::Value = http
        .get(format!("{base}/v1/api-keys"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bootstrap", "survives restarts"]);
}

/// The example of the plans issue, as written: a `free` default plan allowing two agents makes the
/// third `POST /v1/agents` of the bootstrap account answer 402 PLAN_LIMIT.
#[tokio::test]
async fn a_default_plan_from_the_environment_limits_the_bootstrap_account() {
    let data_dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _dev = dev_with(
        data_dir.path(),
        port,
        &[
            ("LATCHKEY__ACCOUNTS__DEFAULT_PLAN", "free"),
            ("LATCHKEY__PLANS__FREE__AGENTS", "2"),
        ],
    );
    assert!(ready(&http, &base).await, "latchkey dev never became ready");
    let key = std::fs::read_to_string(data_dir.path().join("bootstrap.key"))
        .unwrap()
        .trim()
        .to_owned();
    let mut statuses = Vec::new();
    for name in ["one", "two", "three"] {
        let response = http
            .post(format!("{base}/v1/agents"))
            .bearer_auth(&key)
            .json(&serde_json::json!({"name": name, "owner": "eng"}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if name == "three" {
            let problem: serde_json::Value = response.json().await.unwrap();
            assert_eq!(
                (&problem["code"], &problem["plan"], &problem["limit"], &problem["usage"]),
                (
                    &serde_json::json!("PLAN_LIMIT"),
                    &serde_json::json!("free"),
                    &serde_json::json!(2),
                    &serde_json::json!(2)
                ),
                "{problem}"
            );
        }
    }
    assert_eq!(statuses, [201, 201, 402]);
}

#[tokio::test]
async fn the_mesh_runs_as_one_process_per_service_on_postgres_and_nats() {
    let database = TestDatabase::postgres().await;
    let nats = crate::nats_users::mesh_nats().await;
    let ports: BTreeMap<&str, u16> = crate::process_mesh::grpc_services()
        .map(|service| (service, free_port()))
        .collect();
    let gateway_port = free_port();
    let mut env: Vec<(String, String)> = vec![
        ("LATCHKEY__DATABASE__URL".into(), database.url().to_owned()),
        ("LATCHKEY__NATS__URL".into(), nats.url()),
        (
            "LATCHKEY__MESH__SERVICE_TOKEN".into(),
            "mesh-test-token-0123456789abcdef".into(),
        ),
        ("LATCHKEY__MESH__ALLOW_PLAINTEXT".into(), "true".into()),
        ("LATCHKEY__TELEMETRY__LOG_FILTER".into(), "warn".into()),
        // The vault's root key (32 bytes of 0x07): only the vault reads it.
        (
            "LATCHKEY__VAULT__ROOT_KEYS".into(),
            "1:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=".into(),
        ),
    ];
    for (service, port) in &ports {
        let key = format!("LATCHKEY__MESH__{}_URL", service.replace('-', "_").to_uppercase());
        env.push((key, format!("http://127.0.0.1:{port}")));
    }
    let audit_metrics_port = free_port();
    let gateway_metrics_port = free_port();
    let spawn = |service: &str, port: u16| {
        let metrics = match service {
            "audit" => format!("127.0.0.1:{audit_metrics_port}"),
            "gateway" => format!("127.0.0.1:{gateway_metrics_port}"),
            _ => String::new(),
        };
        Process(
            Command::new(BINARY)
                .args(["serve", service, "--listen", &format!("127.0.0.1:{port}")])
                .envs(env.iter().cloned())
                .envs(crate::nats_users::process_settings(service))
                .env("LATCHKEY__SERVER__METRICS_LISTEN", metrics)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("run latchkey serve"),
        )
    };
    let _processes: Vec<Process> = ports
        .iter()
        .map(|(service, port)| spawn(service, *port))
        .chain([spawn("gateway", gateway_port)])
        .collect();

    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{gateway_port}");
    assert!(ready(&http, &base).await, "the mesh never became ready");

    // Every service answers the gRPC health protocol on its own port.
    for (service, port) in &ports {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let status = HealthClient::new(channel)
            .check(HealthCheckRequest { service: String::new() })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", ports["policy"]))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let described = PolicyServiceClient::new(channel)
        .describe(DescribeRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(described.service, "policy");

    // An operator creates an account with the admin command, then uses it over REST.
    let output = Command::new(BINARY)
        .args(["account", "create", "Operators"])
        .envs(env.iter().cloned())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let key = stdout
        .lines()
        .find_map(|l| l.strip_prefix("api key "))
        .expect("a key is printed")
        .to_owned();
    let created = http
        .post(format!("{base}/v1/api-keys"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"name": "from the mesh"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let audited = eventually(Duration::from_secs(30), || async {
        let entries: serde_json::Value = http
            .get(format!("{base}/v1/audit"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        entries["data"].as_array().is_some_and(|d| d.len() >= 3)
    })
    .await;
    assert!(audited, "the audit chain did not fill");

    // An operator rotates the signing key: the JWKS publishes the new key beside the current one.
    let jwks = |http: reqwest::Client| {
        let url = format!("{base}/.well-known/jwks.json");
        async move {
            let jwks: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
            jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                // The audit service's checkpoint keys are published beside the token keys.
                .filter(|kid| !kid.starts_with("audit-"))
                .collect::<Vec<_>>()
        }
    };
    let before = jwks(http.clone()).await;
    assert_eq!(before.len(), 1);
    let output = Command::new(BINARY)
        .args(["keys", "rotate", "--publish-lead", "600"])
        .envs(env.iter().cloned())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let after = jwks(http.clone()).await;
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(after.contains(&before[0]));

    // A gRPC service shows its own metrics: the audit consumer's count and its gRPC calls.
    let metrics = http
        .get(format!("http://127.0.0.1:{audit_metrics_port}/metrics"))
        .send()
        .await
        .unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics.contains("latchkey_events_consumed_total{consumer=\"audit\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("latchkey_grpc_requests_total{method=\"/latchkey.audit.v1.AuditService/ListEntries\"}"),
        "{metrics}"
    );
    // And what operators watch (docs/operations.md): readiness, the bus, the pool, the consumer's lag.
    let watched = eventually(Duration::from_secs(20), || async {
        let metrics = http
            .get(format!("http://127.0.0.1:{audit_metrics_port}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        [
            "latchkey_ready{service=\"audit\"} 1",
            "latchkey_bus_connected{service=\"audit\"} 1",
            "latchkey_db_pool_connections{service=\"audit\",state=\"in_use\"}",
            "latchkey_consumer_pending{consumer=\"audit\"}",
            "latchkey_consumer_unacknowledged{consumer=\"audit\"}",
        ]
        .iter()
        .all(|gauge| metrics.contains(gauge))
    })
    .await;
    assert!(watched, "the audit service's operator gauges are missing");

    // The gateway, given server.metrics_listen, serves /metrics there and no longer publicly.
    let public = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404);
    let metrics = http
        .get(format!("http://127.0.0.1:{gateway_metrics_port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains("latchkey_http_requests_total{"), "{metrics}");
}
