//! The deployed mesh trusts certificates, not the network: on `latchkey serve` processes over mutual
//! TLS, a REST call crosses the mesh, while a plaintext client, a certificate of another CA, and a
//! callee answering with another service's certificate are refused; each service's certificate
//! reaches only the methods that service uses; and certificates rotate without a restart.

use std::time::Duration;

use latchkey_proto::{
    agent_token::v1::{CreateAccountRequest, agent_token_service_client::AgentTokenServiceClient},
    vault::v1::{ListSecretsRequest, vault_service_client::VaultServiceClient},
};
use latchkey_server::{MeshAuth, MeshTls, TlsFiles, connect_to, with_account};
use latchkey_test_support::{PostgresServer, eventually};
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::{binary::BINARY, process_mesh::ProcessMesh};

/// The mesh credential of `identity` with the certificate files in `dir`.
fn identity_from(dir: &std::path::Path, identity: &str) -> MeshAuth {
    let tls = MeshTls::load(
        latchkey::mesh_certs::files_of(dir, identity),
        identity,
        Duration::from_secs(10),
    )
    .expect("the certificate loads");
    MeshAuth::new("").with_tls(tls)
}

/// What a gRPC health check of `callee` at `url` as `auth` answers: the status code of the
/// failure, or OK.
async fn health_check(callee: &str, url: &str, auth: &MeshAuth) -> Code {
    let channel = connect_to(callee, url, auth).expect("a channel");
    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }),
    )
    .await
    .expect("an answer within 5 s");
    match answer {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

#[tokio::test]
async fn the_mesh_admits_only_its_services_each_to_the_methods_it_uses() {
    let postgres = PostgresServer::spawn();
    postgres.create_database("latchkey");
    let nats = crate::nats_users::mesh_nats().await;
    let mesh = ProcessMesh::start(&postgres.url("latchkey"), &nats.url(), |_| 1, &[]).await;
    mesh.wait_ready().await;

    // The operator's command line and the gateway reach agent-token over mTLS: an account, its key,
    // and a REST call through the gateway that agent-token answers.
    let key = mesh.create_account("Mutual");
    let answer = reqwest::Client::new()
        .get(format!("{}/v1/api-keys", mesh.gateway(0)))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);

    let vault = mesh.grpc_url("vault", 0);
    let operator = mesh.operator();
    assert_eq!(health_check("vault", &vault, &operator).await, Code::Ok);

    // A plaintext client never gets a word in: the port speaks only TLS.
    let plaintext = tonic::transport::Endpoint::from_shared(vault.replace("https://", "http://"))
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy();
    let refused = tokio::time::timeout(
        Duration::from_secs(5),
        HealthClient::new(plaintext).check(HealthCheckRequest { service: String::new() }),
    )
    .await
    .expect("an answer within 5 s");
    assert!(refused.is_err(), "a plaintext client was answered: {refused:?}");

    // A certificate of another CA, naming a real service, is refused at the handshake.
    let elsewhere = tempfile::tempdir().unwrap();
    latchkey::mesh_certs::write(elsewhere.path(), 1).unwrap();
    let impostor = identity_from(elsewhere.path(), "gateway");
    assert_ne!(health_check("vault", &vault, &impostor).await, Code::Ok);

    // A caller that means the vault does not talk to another service's certificate, whatever the
    // address says.
    assert_ne!(
        health_check("vault", &mesh.grpc_url("agent-token", 0), &operator).await,
        Code::Ok
    );

    // Each service's certificate reaches what that service uses, and nothing else.
    let account = {
        let created = mesh.admin(&["account", "create", "Secrets"]);
        created
            .lines()
            .find_map(|line| line.strip_prefix("account "))
            .expect("an account id")
            .to_owned()
    };
    let list_secrets = |auth: MeshAuth| {
        let vault = vault.clone();
        let account = account.clone();
        async move {
            let channel = connect_to("vault", &vault, &auth).unwrap();
            VaultServiceClient::new(channel)
                .list_secrets(with_account(ListSecretsRequest::default(), &account, None))
                .await
                .map(|_| ())
                .map_err(|status| status.code())
        }
    };
    assert_eq!(list_secrets(identity_from(mesh.certs(), "oauth")).await, Ok(()));
    assert_eq!(
        list_secrets(identity_from(mesh.certs(), "webhook")).await,
        Err(Code::PermissionDenied)
    );
    assert_eq!(
        list_secrets(identity_from(mesh.certs(), "operator")).await,
        Err(Code::PermissionDenied)
    );
    let create_account = |auth: MeshAuth| {
        let agent_token = mesh.grpc_url("agent-token", 0);
        async move {
            let channel = connect_to("agent-token", &agent_token, &auth).unwrap();
            AgentTokenServiceClient::new(channel)
                .create_account(CreateAccountRequest {
                    name: "Forged".into(),
                    key_name: "forged".into(),
                })
                .await
                .map(|_| ())
                .map_err(|status| status.code())
        }
    };
    assert_eq!(
        create_account(identity_from(mesh.certs(), "gateway")).await,
        Err(Code::PermissionDenied)
    );
    assert_eq!(create_account(identity_from(mesh.certs(), "operator")).await, Ok(()));
}

#[tokio::test]
async fn certificates_rotate_without_a_restart() {
    let postgres = PostgresServer::spawn();
    postgres.create_database("latchkey");
    let nats = crate::nats_users::mesh_nats().await;
    let mesh = ProcessMesh::start(
        &postgres.url("latchkey"),
        &nats.url(),
        |_| 1,
        &[("LATCHKEY__MESH__TLS_RELOAD_SECS", "1")],
    )
    .await;
    mesh.wait_ready().await;
    let vault = mesh.grpc_url("vault", 0);
    let old = mesh.certs();

    // A new CA; every process trusts both while certificates move over.
    let new = tempfile::tempdir().unwrap();
    latchkey::mesh_certs::write(new.path(), 1).unwrap();
    let old_ca = std::fs::read_to_string(old.join(latchkey::mesh_certs::CA_CERT)).unwrap();
    let new_ca = std::fs::read_to_string(new.path().join(latchkey::mesh_certs::CA_CERT)).unwrap();
    let both = format!("{old_ca}{new_ca}");
    std::fs::write(old.join(latchkey::mesh_certs::CA_CERT), &both).unwrap();
    std::fs::write(new.path().join(latchkey::mesh_certs::CA_CERT), &both).unwrap();

    // A client holding only the new CA's certificate gets in once the vault has read the bundle.
    let new_operator = identity_from(new.path(), "operator");
    let admitted = eventually(Duration::from_secs(15), || {
        let (vault, auth) = (vault.clone(), new_operator.clone());
        async move { health_check("vault", &vault, &auth).await == Code::Ok }
    })
    .await;
    assert!(
        admitted,
        "the vault never trusted the new CA; logs in {}",
        mesh.logs().display()
    );

    // The vault moves to its new certificate and the old CA is dropped: the old operator
    // certificate no longer gets in, the new one does, and the vault never restarted.
    let pid = mesh.pid("vault", 0);
    let (from, to): (TlsFiles, TlsFiles) = (
        latchkey::mesh_certs::files_of(new.path(), "vault"),
        latchkey::mesh_certs::files_of(old, "vault"),
    );
    std::fs::copy(from.cert, to.cert).unwrap();
    std::fs::copy(from.key, to.key).unwrap();
    std::fs::write(old.join(latchkey::mesh_certs::CA_CERT), &new_ca).unwrap();
    // The old operator certificate, with a client that would accept either vault certificate: only
    // the vault can refuse it.
    let trusting_both = new.path().join("both.pem");
    std::fs::write(&trusting_both, &both).unwrap();
    let old_operator = MeshAuth::new("").with_tls(
        MeshTls::load(
            TlsFiles {
                ca: trusting_both,
                ..latchkey::mesh_certs::files_of(old, "operator")
            },
            "operator",
            Duration::from_secs(10),
        )
        .unwrap(),
    );
    let moved = eventually(Duration::from_secs(15), || {
        let (vault, auth) = (vault.clone(), old_operator.clone());
        async move { health_check("vault", &vault, &auth).await != Code::Ok }
    })
    .await;
    assert!(moved, "the vault still admits the old CA's certificates");
    std::fs::write(new.path().join(latchkey::mesh_certs::CA_CERT), &new_ca).unwrap();
    let new_operator = identity_from(new.path(), "operator");
    assert_eq!(health_check("vault", &vault, &new_operator).await, Code::Ok);
    assert_eq!(mesh.pid("vault", 0), pid, "the vault restarted");
}

/// `latchkey serve vault` with `settings` on top of a root key and an unreachable database, as far
/// as it gets: what it printed on stderr, and whether it failed.
fn serve_vault(settings: &[(&str, &std::ffi::OsStr)]) -> (bool, String) {
    let output = std::process::Command::new(BINARY)
        .args(["serve", "vault", "--listen", "127.0.0.1:0"])
        .env(
            "LATCHKEY__VAULT__ROOT_KEYS",
            "1:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
        )
        .env("LATCHKEY__DATABASE__URL", "postgres://127.0.0.1:1/none")
        .envs(settings.iter().copied())
        .output()
        .unwrap();
    (
        !output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn serve_refuses_a_plaintext_mesh_unless_told_and_a_certificate_of_another_service() {
    let (failed, stderr) = serve_vault(&[(
        "LATCHKEY__MESH__SERVICE_TOKEN",
        "a-token-long-enough-0123456789".as_ref(),
    )]);
    assert!(failed, "a plaintext mesh started: {stderr}");
    assert!(
        stderr.contains("mesh.tls_ca_file") && stderr.contains("mesh.allow_plaintext"),
        "{stderr}"
    );

    // The vault's process started with the gateway's certificate: it would answer as the gateway.
    let certs = tempfile::tempdir().unwrap();
    latchkey::mesh_certs::write(certs.path(), 1).unwrap();
    let gateway = latchkey::mesh_certs::files_of(certs.path(), "gateway");
    let (failed, stderr) = serve_vault(&[
        ("LATCHKEY__MESH__TLS_CA_FILE", gateway.ca.as_os_str()),
        ("LATCHKEY__MESH__TLS_CERT_FILE", gateway.cert.as_os_str()),
        ("LATCHKEY__MESH__TLS_KEY_FILE", gateway.key.as_os_str()),
    ]);
    assert!(failed, "the vault started as the gateway: {stderr}");
    assert!(stderr.contains("does not name `vault`"), "{stderr}");
    let key = std::fs::read_to_string(&gateway.key).unwrap();
    let key_body = key.lines().nth(1).unwrap();
    assert!(!stderr.contains(key_body), "the key reached the error: {stderr}");
}
