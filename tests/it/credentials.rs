//! Provider credentials end to end, as an AGNT Connect client uses them: `PUT /credentials` stores
//! keys in the vault, `GET /credentials` shows only the masked summary; bad writes name the field and
//! store nothing; accounts never see each other's keys; a write-only key never comes back; and no key
//! reaches the logs or traces on the way. SQLite with the in-process bus, PostgreSQL with NATS.

use std::time::Duration;

use latchkey::cli::Service;
use latchkey_proto::vault::v1::{GetSecretRequest, vault_service_client::VaultServiceClient};
use latchkey_server::MeshAuth;
use latchkey_storage::Backend;
use latchkey_test_support::{captured, eventually};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Bus, MESH_TOKEN, TestMesh};

const OPENAI_KEY: &str = "sk-proj-e2e-openai-secret-Ab12";
const ANTHROPIC_KEY: &str = "sk-ant-api03-e2e-anthropic-secret-Cd34";

async fn put(mesh: &TestMesh, key: &str, body: Value) -> reqwest::Response {
    mesh.as_key(Method::PUT, "/credentials", key)
        .json(&body)
        .send()
        .await
        .expect("PUT /credentials")
}

async fn get(mesh: &TestMesh, key: &str) -> Value {
    let response = mesh
        .as_key(Method::GET, "/credentials", key)
        .send()
        .await
        .expect("GET /credentials");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

/// Opens a stored secret the way an internal caller (the oauth service) does.
async fn open_internally(
    mesh: &TestMesh,
    account: &str,
    secret_id: &str,
    internal_use: bool,
) -> Result<Vec<u8>, tonic::Status> {
    let url = mesh.mesh.urls.of(Service::Vault).expect("vault url");
    let channel = latchkey_server::connect(url, &MeshAuth::new(MESH_TOKEN)).expect("channel");
    let request = latchkey_server::with_account(
        GetSecretRequest {
            secret_id: secret_id.to_owned(),
            internal_use,
        },
        account,
        None,
    );
    VaultServiceClient::new(channel)
        .get_secret(request)
        .await
        .map(|response| response.into_inner().plaintext)
}

async fn keys_are_stored_and_shown_only_masked(backend: Backend, bus: Bus) {
    let mesh = TestMesh::start(backend, bus).await;
    let before = get(&mesh, &mesh.key).await;
    assert_eq!(before["hasOpenaiApiKey"], false);
    assert_eq!(before["openaiApiKeyLast4"], Value::Null);

    let written = put(
        &mesh,
        &mesh.key,
        json!({ "openaiApiKey": OPENAI_KEY, "anthropicApiKey": ANTHROPIC_KEY }),
    )
    .await;
    assert_eq!(written.status(), 200);
    let written: Value = written.json().await.expect("json");
    assert_eq!(written["hasOpenaiApiKey"], true);
    assert_eq!(written["openaiApiKeyLast4"], "Ab12");
    assert_eq!(written["hasAnthropicApiKey"], true);
    assert_eq!(written["anthropicApiKeyLast4"], "Cd34");
    assert!(written["updatedAt"].as_str().expect("updatedAt").ends_with('Z'));
    assert!(written.get("hasGoogleApiKey").is_none(), "PUT answers what it wrote");

    let summary = get(&mesh, &mesh.key).await;
    assert_eq!(summary["hasOpenaiApiKey"], true);
    assert_eq!(summary["openaiApiKeyLast4"], "Ab12");
    assert_eq!(summary["hasAnthropicApiKey"], true);
    assert_eq!(summary["anthropicApiKeyLast4"], "Cd34");
    assert_eq!(summary["hasGoogleApiKey"], false);
    assert_eq!(summary["googleApiKeyLast4"], Value::Null);
    assert_eq!(summary["hasStripeApiKey"], false);
    let text = summary.to_string();
    assert!(!text.contains(OPENAI_KEY) && !text.contains(ANTHROPIC_KEY));

    // Only the key sent changes; the service that uses it opens the newest one.
    let rotated = "sk-proj-e2e-openai-rotated-Ef56";
    assert_eq!(
        put(&mesh, &mesh.key, json!({ "openaiApiKey": rotated })).await.status(),
        200
    );
    let summary = get(&mesh, &mesh.key).await;
    assert_eq!(summary["openaiApiKeyLast4"], "Ef56");
    assert_eq!(summary["anthropicApiKeyLast4"], "Cd34");
    let opened = open_internally(&mesh, &mesh.account_id, "credential/openai", false)
        .await
        .expect("open");
    assert_eq!(opened, rotated.as_bytes());

    // Every write is in the audit log as credential.updated, without the key.
    let announced = eventually(Duration::from_secs(30), || async {
        mesh.audit_entries(&mesh.key)
            .await
            .iter()
            .filter(|entry| entry.to_string().contains("credential.updated"))
            .count()
            >= 3
    })
    .await;
    let audit = mesh.audit_entries(&mesh.key).await;
    assert!(announced, "three credential.updated events in the audit log: {audit:?}");
    let audit_text = serde_json::to_string(&audit).expect("json");
    for secret in [OPENAI_KEY, ANTHROPIC_KEY, rotated] {
        assert!(!audit_text.contains(secret), "a key reached the audit log");
    }
    mesh.mesh.stop().await;
}

#[tokio::test]
async fn keys_are_stored_and_shown_only_masked_on_sqlite() {
    keys_are_stored_and_shown_only_masked(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn keys_are_stored_and_shown_only_masked_on_postgres_with_nats() {
    keys_are_stored_and_shown_only_masked(Backend::Postgres, Bus::Nats).await;
}

async fn bad_writes_name_the_field_and_store_nothing(backend: Backend, bus: Bus) {
    let mesh = TestMesh::start(backend, bus).await;
    for (body, fields) in [
        (
            json!({ "openaiApiKey": OPENAI_KEY, "notAProviderApiKey": "x" }),
            vec!["notAProviderApiKey"],
        ),
        (
            json!({ "openaiApiKey": OPENAI_KEY, "anthropicApiKey": 42 }),
            vec!["anthropicApiKey"],
        ),
        (
            json!({ "openaiApiKey": OPENAI_KEY, "googleApiKey": "   " }),
            vec!["googleApiKey"],
        ),
        (json!({ "openaiApiKey": null }), vec!["openaiApiKey"]),
        (
            json!({ "openaiApiKey": OPENAI_KEY, "writeOnly": "yes" }),
            vec!["writeOnly"],
        ),
        (json!({}), vec!["body"]),
        (json!({ "writeOnly": true }), vec!["body"]),
    ] {
        let response = put(&mesh, &mesh.key, body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        let problem: Value = response.json().await.expect("json");
        assert_eq!(problem["code"], "VALIDATION_ERROR", "{body}");
        let named: Vec<&str> = problem["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .filter_map(|error| error["field"].as_str())
            .collect();
        assert_eq!(named, fields, "{body}");
        assert!(!problem.to_string().contains(OPENAI_KEY), "the error repeats no key");
    }
    let not_json = mesh
        .as_key(Method::PUT, "/credentials", &mesh.key)
        .header("content-type", "text/plain")
        .body("openaiApiKey=sk")
        .send()
        .await
        .expect("PUT");
    assert_eq!(not_json.status(), 415);
    let array = mesh
        .as_key(Method::PUT, "/credentials", &mesh.key)
        .json(&json!([OPENAI_KEY]))
        .send()
        .await
        .expect("PUT");
    assert_eq!(array.status(), 400);

    let summary = get(&mesh, &mesh.key).await;
    assert!(
        summary
            .as_object()
            .expect("object")
            .iter()
            .all(|(field, value)| !field.starts_with("has") || value == false),
        "nothing was stored: {summary}"
    );
    let unauthenticated = mesh.http.get(mesh.url("/credentials")).send().await.expect("GET");
    assert_eq!(unauthenticated.status(), 401);
    mesh.mesh.stop().await;
}

#[tokio::test]
async fn bad_writes_name_the_field_and_store_nothing_on_sqlite() {
    bad_writes_name_the_field_and_store_nothing(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn bad_writes_name_the_field_and_store_nothing_on_postgres_with_nats() {
    bad_writes_name_the_field_and_store_nothing(Backend::Postgres, Bus::Nats).await;
}

#[tokio::test]
async fn one_account_never_sees_or_reaches_another_s_keys() {
    let mesh = TestMesh::start(Backend::Postgres, Bus::Local).await;
    let (other_account, other_key) = mesh.mesh.create_account("Other account").await.expect("account");
    assert_eq!(
        put(&mesh, &mesh.key, json!({ "openaiApiKey": OPENAI_KEY }))
            .await
            .status(),
        200
    );

    let theirs = get(&mesh, &other_key).await;
    assert_eq!(theirs["hasOpenaiApiKey"], false);
    let denied = open_internally(&mesh, &other_account, "credential/openai", true)
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::NotFound);

    // Their own write stays theirs, and ours stays ours.
    let their_key = "sk-proj-other-account-Zz99";
    assert_eq!(
        put(&mesh, &other_key, json!({ "openaiApiKey": their_key }))
            .await
            .status(),
        200
    );
    assert_eq!(get(&mesh, &mesh.key).await["openaiApiKeyLast4"], "Ab12");
    assert_eq!(get(&mesh, &other_key).await["openaiApiKeyLast4"], "Zz99");
    let ours = open_internally(&mesh, &mesh.account_id, "credential/openai", false)
        .await
        .expect("open");
    assert_eq!(ours, OPENAI_KEY.as_bytes());
    mesh.mesh.stop().await;
}

#[tokio::test]
async fn a_write_only_key_is_never_returned_again() {
    let mesh = TestMesh::start(Backend::Sqlite, Bus::Local).await;
    let stripe = "sk_live_write_only_e2e_Wx78";
    let written = put(&mesh, &mesh.key, json!({ "stripeApiKey": stripe, "writeOnly": true })).await;
    assert_eq!(written.status(), 200);
    assert_eq!(get(&mesh, &mesh.key).await["stripeApiKeyLast4"], "Wx78");
    let refused = open_internally(&mesh, &mesh.account_id, "credential/stripe", false)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    // Writing it again without the flag does not lift it.
    assert_eq!(
        put(&mesh, &mesh.key, json!({ "stripeApiKey": "sk_live_again_Yy00" }))
            .await
            .status(),
        200
    );
    let still = open_internally(&mesh, &mesh.account_id, "credential/stripe", false)
        .await
        .unwrap_err();
    assert_eq!(still.code(), tonic::Code::PermissionDenied);
    // Latchkey itself can still use it (an internal use never hands it to a client).
    let used = open_internally(&mesh, &mesh.account_id, "credential/stripe", true)
        .await
        .expect("open");
    assert_eq!(used, b"sk_live_again_Yy00");
    mesh.mesh.stop().await;
}

#[tokio::test]
async fn no_key_reaches_the_logs_or_traces_during_a_full_flow() {
    captured::install();
    let mesh = TestMesh::start(Backend::Sqlite, Bus::Local).await;
    let secrets = [
        "sk-proj-logged-never-openai-Lg01",
        "sk-ant-logged-never-anthropic-Lg02",
        "sk_live_logged_never_stripe_Lg03",
        "sk-logged-never-in-an-error-Lg04",
    ];
    assert_eq!(
        put(
            &mesh,
            &mesh.key,
            json!({ "openaiApiKey": secrets[0], "anthropicApiKey": secrets[1] })
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        put(
            &mesh,
            &mesh.key,
            json!({ "stripeApiKey": secrets[2], "writeOnly": true })
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        put(
            &mesh,
            &mesh.key,
            json!({ "openaiApiKey": secrets[3], "bogusApiKey": secrets[3] })
        )
        .await
        .status(),
        400
    );
    get(&mesh, &mesh.key).await;
    open_internally(&mesh, &mesh.account_id, "credential/openai", false)
        .await
        .expect("open");
    open_internally(&mesh, &mesh.account_id, "credential/stripe", false)
        .await
        .unwrap_err();
    open_internally(&mesh, &mesh.account_id, "credential/stripe", true)
        .await
        .expect("open");
    let settled = eventually(Duration::from_secs(30), || async {
        mesh.audit_entries(&mesh.key)
            .await
            .iter()
            .filter(|entry| entry.to_string().contains("credential.updated"))
            .count()
            >= 3
    })
    .await;
    assert!(settled, "the events went through the bus and the audit consumer");

    let logs = captured::logs();
    assert!(!logs.is_empty(), "the capture saw the flow");
    let spans = captured::all_span_text();
    for secret in secrets {
        captured::assert_not_captured("key", secret);
        let tail = &secret[secret.len() - 12..];
        assert!(
            !logs.contains(tail) && !spans.contains(tail),
            "part of a key was logged"
        );
    }
    mesh.mesh.stop().await;
}

/// `latchkey dev` (the real binary) generates its vault root key once, keeps it beside the data with
/// mode 0600 and never prints it; `latchkey vault rotate --data-dir` adds a version and re-wraps while
/// dev serves; after dropping version 1, a restarted dev still reaches every account's data key.
#[tokio::test]
async fn latchkey_dev_keeps_its_root_key_and_vault_rotate_rewraps_while_it_serves() {
    use std::{
        os::unix::fs::PermissionsExt,
        process::{Command, Stdio},
    };
    const BINARY: &str = env!("CARGO_BIN_EXE_latchkey");
    struct Process(std::process::Child);
    impl Drop for Process {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let dir = tempfile::tempdir().expect("data dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let dev = || {
        Process(
            Command::new(BINARY)
                .args(["dev", "--data-dir"])
                .arg(dir.path())
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .env("LATCHKEY__TELEMETRY__LOG_FILTER", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("run latchkey dev"),
        )
    };
    let http = reqwest::Client::new();
    let ready = || async {
        eventually(Duration::from_secs(60), || async {
            matches!(http.get(format!("{base}/readyz")).send().await, Ok(r) if r.status() == 200)
        })
        .await
    };
    let put_key = |key: String, body: Value| {
        let request = http.put(format!("{base}/credentials")).bearer_auth(key).json(&body);
        async move { request.send().await.expect("PUT /credentials").status() }
    };

    let first = dev();
    assert!(ready().await, "latchkey dev never became ready");
    let root_key_file = dir.path().join("vault-root.key");
    assert_eq!(
        std::fs::metadata(&root_key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let generated = std::fs::read_to_string(&root_key_file).unwrap();
    let key = std::fs::read_to_string(dir.path().join("bootstrap.key"))
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(put_key(key.clone(), json!({ "openaiApiKey": OPENAI_KEY })).await, 200);

    // Rotate while dev serves: the CLI adds version 2 and re-wraps the data keys.
    let rotate = |extra: &[&str]| {
        Command::new(BINARY)
            .args(["vault", "rotate", "--data-dir"])
            .arg(dir.path())
            .args(extra)
            .env("LATCHKEY__TELEMETRY__LOG_FILTER", "warn")
            .output()
            .expect("run latchkey vault rotate")
    };
    let rotated = rotate(&[]);
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    let said = String::from_utf8_lossy(&rotated.stdout).into_owned();
    assert!(said.contains("added root key version 2"), "{said}");
    // The account's data key and the system account's (agent-token's and audit's own keys).
    assert!(said.contains("root key version 2 (2 re-wrapped"), "{said}");
    let keys_now = std::fs::read_to_string(&root_key_file).unwrap();
    assert!(
        keys_now.starts_with(&generated[..generated.len() - 1]),
        "version 1 is kept"
    );
    for line in keys_now.lines().filter(|line| !line.starts_with('#')) {
        let encoded = line.split_once(':').expect("VERSION:BASE64").1;
        assert!(!said.contains(encoded), "rotate printed a root key");
    }
    // dev keeps serving, reads and writes alike.
    assert_eq!(
        put_key(key.clone(), json!({ "anthropicApiKey": ANTHROPIC_KEY })).await,
        200
    );
    let finish = rotate(&["--no-new-key"]);
    assert!(
        String::from_utf8_lossy(&finish.stdout).contains("(0 re-wrapped"),
        "nothing left under version 1"
    );
    drop(first);

    // Without version 1 a restarted dev still unwraps the data key (it writes with it).
    let only_v2: String = keys_now
        .lines()
        .filter(|line| !line.starts_with("1:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&root_key_file, only_v2).unwrap();
    let _second = dev();
    assert!(ready().await, "latchkey dev did not come back");
    assert_eq!(
        put_key(key.clone(), json!({ "stripeApiKey": "sk_live_after_rotation_Rr11" })).await,
        200
    );
    let summary: Value = http
        .get(format!("{base}/credentials"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(summary["openaiApiKeyLast4"], "Ab12");
    assert_eq!(summary["anthropicApiKeyLast4"], "Cd34");
    assert_eq!(summary["stripeApiKeyLast4"], "Rr11");
    drop(_second);

    // Without its key file, dev refuses to start rather than generate a key that opens nothing.
    std::fs::remove_file(&root_key_file).unwrap();
    let mut refused = dev();
    let exited = eventually(Duration::from_secs(30), || {
        let exited = matches!(refused.0.try_wait(), Ok(Some(status)) if !status.success());
        async move { exited }
    })
    .await;
    assert!(exited, "latchkey dev started without its vault root key");
    assert!(!root_key_file.exists(), "no new key was generated");
}
