//! Secrets from files on a real `latchkey serve` process, as a platform mounts them: the policy
//! service started with its service token and database URL in files (each ending in a newline, as
//! `echo` writes), no secret in its environment, accepts mesh calls with that token and refuses
//! others; given the token both ways it does not start, and says which settings clash.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use latchkey_ids::AccountId;
use latchkey_proto::policy::v1::{ListPoliciesRequest, policy_service_client::PolicyServiceClient};
use latchkey_server::MeshAuth;
use latchkey_test_support::{NatsServer, TestDatabase, eventually};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

use crate::binary::{BINARY, Process, free_port};

const TOKEN: &str = "token-from-a-file-0123456789abcdef";

async fn serving(url: &str) -> bool {
    eventually(Duration::from_secs(30), || async {
        let Ok(channel) = tonic::transport::Endpoint::from_shared(url.to_owned())
            .expect("a URL")
            .connect()
            .await
        else {
            return false;
        };
        let answer = HealthClient::new(channel)
            .check(HealthCheckRequest { service: String::new() })
            .await;
        answer.is_ok_and(|answer| answer.into_inner().status == ServingStatus::Serving as i32)
    })
    .await
}

async fn list_policies(url: &str, token: &str) -> Result<(), tonic::Status> {
    let channel = latchkey_server::connect(url, &MeshAuth::new(token)).expect("a channel");
    let request = latchkey_server::with_account(ListPoliciesRequest {}, AccountId::new().as_ref(), None);
    PolicyServiceClient::new(channel).list_policies(request).await.map(drop)
}

#[tokio::test]
async fn serve_takes_its_secrets_from_files_and_refuses_a_secret_given_twice() {
    let database = TestDatabase::postgres().await;
    let nats = NatsServer::spawn().await;
    let mounted = tempfile::tempdir().unwrap();
    let token_file = mounted.path().join("service-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let url_file = mounted.path().join("database-url");
    std::fs::write(&url_file, format!("{}\n", database.url())).unwrap();
    let log = mounted.path().join("policy.log");

    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let serve = |port: u16| {
        let mut command = Command::new(BINARY);
        command
            .args(["serve", "policy", "--listen", &format!("127.0.0.1:{port}")])
            .env_remove("LATCHKEY__MESH__SERVICE_TOKEN")
            .env_remove("LATCHKEY__DATABASE__URL")
            .env("LATCHKEY__MESH__SERVICE_TOKEN_FILE", &token_file)
            .env("LATCHKEY__MESH__ALLOW_PLAINTEXT", "true")
            .env("LATCHKEY__DATABASE__URL_FILE", &url_file)
            .env("LATCHKEY__DATABASE__MAX_CONNECTIONS", "2")
            .env("LATCHKEY__NATS__URL", nats.url())
            .env("LATCHKEY__SERVER__SHUTDOWN_DRAIN_SECS", "0")
            .env("LATCHKEY__TELEMETRY__LOG_FILTER", "info");
        command
    };
    let policy = Process(
        serve(port)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("run latchkey serve policy"),
    );
    assert!(
        serving(&url).await,
        "policy never served: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    list_policies(&url, TOKEN)
        .await
        .expect("a mesh call with the file's token, less its newline");
    let refused = list_policies(&url, "another-token-0123456789abcdef").await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    drop(policy);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("serving"), "{logged}");
    assert!(!logged.contains(TOKEN), "the token reached the log: {logged}");

    // The token given both ways: the process stops at start, naming both settings, not the secret.
    let twice = serve(free_port())
        .env("LATCHKEY__MESH__SERVICE_TOKEN", TOKEN)
        .output()
        .expect("run latchkey serve policy");
    let stderr = String::from_utf8_lossy(&twice.stderr);
    assert!(!twice.status.success(), "started with the token given twice: {stderr}");
    for named in [
        "mesh.service_token ",
        "mesh.service_token_file",
        "LATCHKEY__MESH__SERVICE_TOKEN_FILE",
    ] {
        assert!(stderr.contains(named), "{stderr} does not name {named}");
    }
    assert!(!stderr.contains(TOKEN), "{stderr}");
}
