//! Keys at rest: agent-token's signing keys and the audit checkpoint keys are sealed in the vault,
//! so their databases hold no private key material (a backup alone can mint nothing); keys written
//! in plaintext by an older release are sealed on start, also by instances starting together; the
//! services wait for a vault that starts after them; the checkpoint keys are published apart from
//! the token JWKS.

use std::time::Duration;

use base64::Engine as _;
use latchkey::cli::Service;
use latchkey_agent_token::{
    AgentToken,
    tokens::{KeySchedule, SigningKey},
};
use latchkey_audit::{Audit, Checkpoint, CheckpointKey};
use latchkey_events::EventBus;
use latchkey_proto::{
    agent_token::v1::{GetJwksRequest, RotateSigningKeyRequest, agent_token_service_client::AgentTokenServiceClient},
    audit::v1::{GetCheckpointKeysRequest, audit_service_client::AuditServiceClient},
};
use latchkey_server::{MeshAuth, SystemSecrets};
use latchkey_storage::{Backend, Db, sqlx};
use latchkey_test_support::{
    TestDatabase, captured, eventually,
    mesh::{vault_client, vault_root_keys},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::support::{Bus, MESH_TOKEN, TestMesh};

const DEADLINE: Duration = Duration::from_secs(60);

async fn call(t: &TestMesh, method: Method, path: &str, key: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = t.http.request(method, t.url(path));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn agent_token_db(t: &TestMesh) -> Db {
    Db::connect(&t.mesh.context.database.url_for(Service::AgentToken))
        .await
        .unwrap()
}

async fn audit_db(t: &TestMesh) -> Db {
    Db::connect(&t.mesh.context.database.url_for(Service::Audit))
        .await
        .unwrap()
}

/// Every row of `signing_keys` or `audit_signing_keys`: (kid, seed, vault version).
async fn key_rows(db: &Db, table: &str) -> Vec<(String, Vec<u8>, i64)> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT kid, seed, vault_version FROM {table} ORDER BY kid"
    )))
    .fetch_all(db.pool())
    .await
    .unwrap()
}

/// The seed sealed in the vault as `secret_id`.
async fn sealed_seed(vault: &SystemSecrets, secret_id: &str) -> Vec<u8> {
    vault.open(secret_id).await.unwrap().plaintext.to_vec()
}

/// Every value of every row of every table of `db`, as bytes (text as its UTF-8; on PostgreSQL
/// each row as its text form, where bytes show as hex).
async fn every_stored_value(db: &Db) -> Vec<Vec<u8>> {
    use sqlx::Row;
    let tables: Vec<(String,)> = match db.backend() {
        Backend::Sqlite => sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table'"),
        Backend::Postgres => sqlx::query_as(
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
        ),
    }
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert!(tables.len() > 5, "every service's tables: {tables:?}");
    let mut values = Vec::new();
    for (table,) in tables {
        match db.backend() {
            Backend::Sqlite => {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM \"{table}\"")))
                    .fetch_all(db.pool())
                    .await
                    .unwrap();
                for row in rows {
                    for column in 0..row.len() {
                        if let Ok(Some(bytes)) = row.try_get::<Option<Vec<u8>>, _>(column) {
                            values.push(bytes);
                        } else if let Ok(Some(text)) = row.try_get::<Option<String>, _>(column) {
                            values.push(text.into_bytes());
                        }
                    }
                }
            }
            Backend::Postgres => {
                let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT CAST(t AS TEXT) FROM \"{table}\" AS t"
                )))
                .fetch_all(db.pool())
                .await
                .unwrap();
                values.extend(rows.into_iter().map(|(row,)| row.into_bytes()));
            }
        }
    }
    values
}

/// Fails if `seed` shows in `values`: raw, as hex, or as base64 of either alphabet.
fn assert_nowhere(values: &[Vec<u8>], seed: &[u8], what: &str) {
    assert_eq!(seed.len(), 32, "an Ed25519 seed");
    let encodings = [
        seed.to_vec(),
        hex::encode(seed).into_bytes(),
        hex::encode_upper(seed).into_bytes(),
        base64::engine::general_purpose::STANDARD_NO_PAD
            .encode(seed)
            .into_bytes(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(seed)
            .into_bytes(),
    ];
    // memmem rather than a window-by-window compare: the captured logs of the whole test binary are
    // searched, and a debug build compares slices slowly.
    let finders: Vec<memchr::memmem::Finder<'_>> = encodings.iter().map(memchr::memmem::Finder::new).collect();
    for value in values {
        for finder in &finders {
            assert!(finder.find(value).is_none(), "{what} is stored or logged");
        }
    }
}

/// The raw bytes of a SQLite database file and its write-ahead log, as a backup would copy them.
fn sqlite_files(url: &str) -> Vec<u8> {
    let path = url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
    bytes
}

async fn rotate(t: &TestMesh, publish_lead_secs: i64) -> String {
    let channel =
        latchkey_server::connect(t.mesh.urls.of(Service::AgentToken).unwrap(), &t.mesh.context.mesh_auth).unwrap();
    AgentTokenServiceClient::new(channel)
        .rotate_signing_key(RotateSigningKeyRequest { publish_lead_secs })
        .await
        .unwrap()
        .into_inner()
        .kid
}

async fn create_agent(t: &TestMesh) -> String {
    let body = json!({"name": "sealer", "owner": "eng"});
    let (status, agent) = call(t, Method::POST, "/v1/agents", Some(&t.key), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    agent["id"].as_str().unwrap().to_owned()
}

/// A token for `agent`, and the kid of the key that signed it.
async fn issue(t: &TestMesh, agent: &str) -> (String, String) {
    let body = json!({"agent_id": agent, "scope": ["docs.read"]});
    let (status, issued) = call(t, Method::POST, "/v1/tokens", Some(&t.key), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let token = issued["token"].as_str().unwrap().to_owned();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.split('.').next().unwrap())
        .unwrap();
    let header: Value = serde_json::from_slice(&header).unwrap();
    (token, header["kid"].as_str().unwrap().to_owned())
}

/// Whether the gateway finds `token` valid (polled: a new gateway fetches the keys first).
async fn verifies(t: &TestMesh, token: &str) -> bool {
    eventually(DEADLINE, || async {
        let body = json!({ "token": token });
        let (status, verdict) = call(t, Method::POST, "/v1/tokens/verify", None, Some(body)).await;
        status == StatusCode::OK && verdict["valid"] == true
    })
    .await
}

/// The published checkpoint keys, once the audit service serves them.
async fn checkpoint_keys(t: &TestMesh) -> Vec<Value> {
    let served = eventually(DEADLINE, || async {
        let (status, jwks) = call(t, Method::GET, "/v1/audit/checkpoints/jwks.json", None, None).await;
        status == StatusCode::OK && jwks["keys"].as_array().is_some_and(|keys| !keys.is_empty())
    })
    .await;
    assert!(served, "the checkpoint keys are never served");
    let (_, jwks) = call(t, Method::GET, "/v1/audit/checkpoints/jwks.json", None, None).await;
    jwks["keys"].as_array().cloned().unwrap_or_default()
}

async fn token_kids(t: &TestMesh) -> Vec<String> {
    let (status, jwks) = call(t, Method::GET, "/.well-known/jwks.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// A checkpoint of the account's head, signed now.
async fn sign_checkpoint(t: &TestMesh) -> Checkpoint {
    t.audit_entries_at_least(&t.key, 1).await;
    let (status, checkpoint) = call(t, Method::POST, "/v1/audit/checkpoints", Some(&t.key), None).await;
    assert_eq!(status, StatusCode::CREATED, "{checkpoint}");
    serde_json::from_value(checkpoint).unwrap()
}

async fn keys_at_rest_are_sealed(backend: Backend) {
    captured::install();
    let t = TestMesh::start(backend, Bus::Local).await;
    let agent = create_agent(&t).await;
    let first_checkpoint = sign_checkpoint(&t).await;
    // Published now, signing from the next second on.
    let new_kid = rotate(&t, 1).await;
    let until = std::time::Instant::now() + DEADLINE;
    let before_restart = loop {
        let (token, signed_by) = issue(&t, &agent).await;
        if signed_by == new_kid {
            break token;
        }
        assert!(std::time::Instant::now() < until, "the rotated-in key never signs");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // Every key row keeps a kid and a vault version, never a seed.
    let signing = key_rows(&agent_token_db(&t).await, "signing_keys").await;
    let audit = key_rows(&audit_db(&t).await, "audit_signing_keys").await;
    assert_eq!(signing.len(), 2, "the first key and the rotated-in one");
    assert_eq!(audit.len(), 1);
    for (kid, seed, version) in signing.iter().chain(&audit) {
        assert!(seed.is_empty(), "{kid} keeps its seed in the database");
        assert_eq!(*version, 1, "{kid} is sealed once");
    }
    assert_eq!(audit[0].0, first_checkpoint.kid);

    // The seeds are in the vault, and appear nowhere in the database.
    let vault = t.system_secrets();
    let mut seeds = Vec::new();
    for (kid, _, _) in &signing {
        let seed = sealed_seed(&vault, &format!("signing-key/{kid}")).await;
        let key = SigningKey::from_secret_bytes(&seed, KeySchedule::new(0, 0)).unwrap();
        assert_eq!(key.kid(), kid, "the vault holds the key of that kid");
        seeds.push(seed);
    }
    let seed = sealed_seed(&vault, &format!("audit-checkpoint-key/{}", audit[0].0)).await;
    assert_eq!(CheckpointKey::from_seed(&seed).unwrap().kid(), audit[0].0);
    seeds.push(seed);
    let values = every_stored_value(&agent_token_db(&t).await).await;
    for seed in &seeds {
        assert_nowhere(&values, seed, "a private key");
    }
    if backend == Backend::Sqlite {
        // Not in the file either (free pages, the write-ahead log): no seed was ever written.
        let files = sqlite_files(&t.mesh.context.database.url_for(Service::AgentToken));
        for seed in &seeds {
            assert_nowhere(std::slice::from_ref(&files), seed, "a private key");
        }
    }

    // A restart opens every key from the vault: the token issued before still verifies, new ones
    // are signed by the same key, and checkpoints by the same checkpoint key.
    let t = t.restart().await;
    assert!(verifies(&t, &before_restart).await, "a token issued before the restart");
    let (after_restart, signed_by) = issue(&t, &agent).await;
    assert_eq!(signed_by, new_kid);
    assert!(verifies(&t, &after_restart).await, "a token issued after the restart");
    let keys = checkpoint_keys(&t).await;
    // The token JWKS has the token keys and nothing else; the checkpoint key has its own set.
    let mut published = token_kids(&t).await;
    published.sort();
    let stored: Vec<String> = signing.iter().map(|(kid, _, _)| kid.clone()).collect();
    assert_eq!(published, stored);
    let checkpoint_kids: Vec<&str> = keys.iter().filter_map(|key| key["kid"].as_str()).collect();
    assert_eq!(checkpoint_kids, [first_checkpoint.kid.as_str()]);
    let kept = sign_checkpoint(&t).await;
    assert_eq!(kept.kid, first_checkpoint.kid);
    kept.verify_signature(&keys).unwrap();
    first_checkpoint.verify_signature(&keys).unwrap();
    t.stop().await;
    // Nor in any log line or span, at any level.
    let logged = [captured::logs().into_bytes(), captured::all_span_text().into_bytes()];
    for seed in &seeds {
        assert_nowhere(&logged, seed, "a private key");
    }
}

#[tokio::test]
async fn keys_at_rest_are_sealed_on_sqlite() {
    keys_at_rest_are_sealed(Backend::Sqlite).await;
}

#[tokio::test]
async fn keys_at_rest_are_sealed_on_postgres() {
    keys_at_rest_are_sealed(Backend::Postgres).await;
}

/// Rows as a release before sealing wrote them: a plaintext seed and no vault version. Each is the
/// newest of its table, so it is the one that signs.
async fn write_legacy_rows(t: &TestMesh) -> (SigningKey, CheckpointKey) {
    let now = latchkey_storage::now_ms() / 1000;
    let token_key = SigningKey::generate(KeySchedule::new(now, now));
    sqlx::query(
        "INSERT INTO signing_keys (kid, seed, created_at, activates_at, retires_at, published_until) \
         VALUES ($1, $2, $3, $3, NULL, NULL)",
    )
    .bind(token_key.kid())
    .bind(token_key.to_secret_bytes().to_vec())
    .bind(now)
    .execute(agent_token_db(t).await.pool())
    .await
    .unwrap();
    let checkpoint_key = CheckpointKey::generate();
    sqlx::query("INSERT INTO audit_signing_keys (kid, seed, created_ms) VALUES ($1, $2, $3)")
        .bind(checkpoint_key.kid())
        .bind(checkpoint_key.seed().to_vec())
        .bind(latchkey_storage::now_ms() + 1000)
        .execute(audit_db(t).await.pool())
        .await
        .unwrap();
    (token_key, checkpoint_key)
}

async fn a_plaintext_key_row_is_sealed_on_start(backend: Backend) {
    let t = TestMesh::start(backend, Bus::Local).await;
    let agent = create_agent(&t).await;
    let (token_key, checkpoint_key) = write_legacy_rows(&t).await;
    // A start that sealed the checkpoint key and crashed before clearing its row: the next start
    // finds the secret already there, holding the same key, and keeps that version.
    let vault = t.system_secrets();
    let checkpoint_secret = format!("audit-checkpoint-key/{}", checkpoint_key.kid());
    assert_eq!(
        vault
            .seal_once(&checkpoint_secret, &checkpoint_key.seed()[..])
            .await
            .unwrap(),
        1
    );

    let t = t.restart().await;
    // Start-up sealed both rows before serving: the legacy keys sign, opened from the vault.
    let (token, signed_by) = issue(&t, &agent).await;
    assert_eq!(signed_by, token_key.kid());
    assert!(verifies(&t, &token).await);
    let keys = checkpoint_keys(&t).await;
    let checkpoint = sign_checkpoint(&t).await;
    assert_eq!(checkpoint.kid, checkpoint_key.kid());
    checkpoint.verify_signature(&keys).unwrap();

    let signing = key_rows(&agent_token_db(&t).await, "signing_keys").await;
    let audit = key_rows(&audit_db(&t).await, "audit_signing_keys").await;
    for (kid, seed, version) in signing.iter().chain(&audit) {
        assert!(seed.is_empty(), "{kid} keeps its seed in the database");
        assert_eq!(*version, 1, "{kid}");
    }
    let vault = t.system_secrets();
    let token_secret = format!("signing-key/{}", token_key.kid());
    assert_eq!(
        sealed_seed(&vault, &token_secret).await,
        token_key.to_secret_bytes().to_vec()
    );
    assert_eq!(
        sealed_seed(&vault, &checkpoint_secret).await,
        checkpoint_key.seed().to_vec()
    );
    let values = every_stored_value(&agent_token_db(&t).await).await;
    assert_nowhere(&values, &token_key.to_secret_bytes()[..], "the migrated signing key");
    assert_nowhere(&values, &checkpoint_key.seed()[..], "the migrated checkpoint key");
    t.stop().await;
}

#[tokio::test]
async fn a_plaintext_key_row_is_sealed_on_start_on_sqlite() {
    a_plaintext_key_row_is_sealed_on_start(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_plaintext_key_row_is_sealed_on_start_on_postgres() {
    a_plaintext_key_row_is_sealed_on_start(Backend::Postgres).await;
}

/// Several instances of each service start at once on a database with plaintext rows: every one
/// of them comes up holding the legacy key, sealed once.
async fn instances_starting_together_seal_once(backend: Backend) {
    const INSTANCES: usize = 3;
    let t = TestMesh::start(backend, Bus::Local).await;
    let (token_key, checkpoint_key) = write_legacy_rows(&t).await;
    let shutdown = CancellationToken::new();
    let mesh = t.mesh.context.mesh_auth.clone();
    let mut agent_tokens = Vec::new();
    let mut audits = Vec::new();
    for _ in 0..INSTANCES {
        let db = agent_token_db(&t).await;
        let service = AgentToken::open(db, mesh.clone(), t.system_secrets()).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(service.run(listener, t.mesh.context.bus.clone(), shutdown.clone()));
        agent_tokens.push(AgentTokenServiceClient::new(
            latchkey_server::connect(&url, &mesh).unwrap(),
        ));
        let audit = Audit::open(audit_db(&t).await, mesh.clone())
            .await
            .unwrap()
            .with_vault(t.system_secrets());
        audits.push(audit);
    }
    let opened = futures::future::join_all(audits.iter().map(Audit::open_checkpoint_keys)).await;
    for (audit, outcome) in audits.iter().zip(opened) {
        outcome.unwrap();
        let jwks = audit.checkpoint_jwks();
        assert!(jwks.iter().any(|key| key["kid"] == checkpoint_key.kid()), "{jwks:?}");
    }
    for client in &mut agent_tokens {
        let jwks = client.get_jwks(GetJwksRequest {}).await.unwrap().into_inner().jwks_json;
        assert!(jwks.contains(token_key.kid()), "{jwks}");
    }
    let signing = key_rows(&agent_token_db(&t).await, "signing_keys").await;
    let audit = key_rows(&audit_db(&t).await, "audit_signing_keys").await;
    for (kid, seed, version) in signing.iter().chain(&audit) {
        assert!(seed.is_empty(), "{kid} keeps its seed in the database");
        assert_eq!(*version, 1, "{kid} is sealed once");
    }
    shutdown.cancel();
    t.stop().await;
}

#[tokio::test]
async fn instances_starting_together_seal_a_plaintext_row_once_on_sqlite() {
    instances_starting_together_seal_once(Backend::Sqlite).await;
}

#[tokio::test]
async fn instances_starting_together_seal_a_plaintext_row_once_on_postgres() {
    instances_starting_together_seal_once(Backend::Postgres).await;
}

/// A port where the vault will be, that for now accepts connections and drops them at once.
struct NotYetAVault {
    listener: TcpListener,
    url: String,
}

impl NotYetAVault {
    async fn bind() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        Self { listener, url }
    }

    /// Drops the next `count` connections: each is one try of a service waiting for the vault.
    async fn refuse(&self, count: usize) {
        for _ in 0..count {
            let (connection, _) = tokio::time::timeout(DEADLINE, self.listener.accept())
                .await
                .expect("the service never tried the vault again")
                .unwrap();
            drop(connection);
        }
    }

    /// Serves a vault on `db` at this port from now on.
    async fn start_vault(
        self,
        db: &TestDatabase,
        root_keys: latchkey_vault::RootKeySource,
        shutdown: &CancellationToken,
    ) {
        let mesh = MeshAuth::new(MESH_TOKEN);
        let vault = latchkey_vault::Vault::open(Db::connect(db.url()).await.unwrap(), root_keys, mesh)
            .await
            .unwrap();
        let bus = EventBus::local(Db::connect(db.url()).await.unwrap()).await.unwrap();
        tokio::spawn(vault.run(self.listener, bus, shutdown.clone()));
    }
}

#[tokio::test]
async fn agent_token_and_audit_wait_for_a_vault_that_starts_after_them() {
    captured::install();
    let mesh = MeshAuth::new(MESH_TOKEN);
    let shutdown = CancellationToken::new();
    let (agent_db, audit_db, vault_db) = (TestDatabase::sqlite(), TestDatabase::sqlite(), TestDatabase::sqlite());
    let bus_db = TestDatabase::sqlite();
    let bus = EventBus::local(Db::connect(bus_db.url()).await.unwrap()).await.unwrap();
    // One port each, so each service's retries are seen.
    let (for_agent_token, for_audit) = (NotYetAVault::bind().await, NotYetAVault::bind().await);

    let agent_token = AgentToken::open(
        Db::connect(agent_db.url()).await.unwrap(),
        mesh.clone(),
        vault_client(&for_agent_token.url, &mesh),
    )
    .await
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let agent_token_url = format!("http://{}", listener.local_addr().unwrap());
    let agent_token_task = tokio::spawn(agent_token.run(listener, bus.clone(), shutdown.clone()));
    let audit = Audit::open(Db::connect(audit_db.url()).await.unwrap(), mesh.clone())
        .await
        .unwrap()
        .with_vault(vault_client(&for_audit.url, &mesh));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let audit_url = format!("http://{}", listener.local_addr().unwrap());
    let audit_task = tokio::spawn(audit.run(listener, bus.clone(), shutdown.clone()));

    // Each tries, finds no vault, and tries again rather than failing or going on without it.
    for_agent_token.refuse(2).await;
    for_audit.refuse(2).await;
    assert!(!agent_token_task.is_finished() && !audit_task.is_finished());
    assert!(captured::logs().contains("waiting for the vault"));

    // The vault comes up (two listeners of one vault database): both open their keys and serve.
    let root_keys = vault_root_keys();
    for_agent_token
        .start_vault(&vault_db, root_keys.clone(), &shutdown)
        .await;
    for_audit.start_vault(&vault_db, root_keys, &shutdown).await;
    let mut agent_token = AgentTokenServiceClient::new(latchkey_server::connect(&agent_token_url, &mesh).unwrap());
    let jwks: Value = serde_json::from_str(
        &agent_token
            .get_jwks(GetJwksRequest {})
            .await
            .unwrap()
            .into_inner()
            .jwks_json,
    )
    .unwrap();
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(1));
    let mut audit = AuditServiceClient::new(latchkey_server::connect(&audit_url, &mesh).unwrap());
    let keys: Vec<Value> = serde_json::from_str(
        &audit
            .get_checkpoint_keys(GetCheckpointKeysRequest {})
            .await
            .unwrap()
            .into_inner()
            .keys_json,
    )
    .unwrap();
    assert_eq!(keys.len(), 1);
    shutdown.cancel();
    agent_token_task.await.unwrap().unwrap();
    audit_task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_shutdown_ends_the_wait_for_the_vault() {
    let mesh = MeshAuth::new(MESH_TOKEN);
    let shutdown = CancellationToken::new();
    let database = TestDatabase::sqlite();
    let bus_db = TestDatabase::sqlite();
    let bus = EventBus::local(Db::connect(bus_db.url()).await.unwrap()).await.unwrap();
    let nowhere = NotYetAVault::bind().await;
    let agent_token = AgentToken::open(
        Db::connect(database.url()).await.unwrap(),
        mesh.clone(),
        vault_client(&nowhere.url, &mesh),
    )
    .await
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let task = tokio::spawn(agent_token.run(listener, bus, shutdown.clone()));
    nowhere.refuse(2).await;
    shutdown.cancel();
    let stopped = tokio::time::timeout(DEADLINE, task)
        .await
        .expect("the wait outlived the shutdown");
    stopped.unwrap().expect("a shutdown while waiting is a clean stop");
    // Nothing was created without the vault: no key, sealed or not.
    let rows = key_rows(&Db::connect(database.url()).await.unwrap(), "signing_keys").await;
    assert!(rows.is_empty(), "{rows:?}");
}

/// A reload (here the one every rotation starts with) opens from the vault only the keys it does
/// not hold yet: with the first key's secret gone from the vault, the running instance keeps it,
/// and only an instance started afresh finds it missing.
async fn a_reload_opens_only_keys_it_does_not_hold(backend: Backend) {
    use latchkey_proto::vault::v1::{DeleteSecretRequest, vault_service_client::VaultServiceClient};
    let t = TestMesh::start(backend, Bus::Local).await;
    let first = token_kids(&t).await;
    assert_eq!(first.len(), 1);
    let channel = latchkey_server::connect(t.mesh.urls.of(Service::Vault).unwrap(), &t.mesh.context.mesh_auth).unwrap();
    let request = latchkey_server::with_account(
        DeleteSecretRequest {
            secret_id: format!("signing-key/{}", first[0]),
        },
        latchkey_server::SYSTEM_ACCOUNT,
        None,
    );
    VaultServiceClient::new(channel).delete_secret(request).await.unwrap();

    let new_kid = rotate(&t, 600).await;
    let mut held = token_kids(&t).await;
    held.sort();
    let mut expected = vec![first[0].clone(), new_kid.clone()];
    expected.sort();
    assert_eq!(held, expected, "the rotation's reload kept the key it held");

    let t = t.restart().await;
    assert_eq!(
        token_kids(&t).await,
        [new_kid],
        "opened afresh, the deleted key is gone"
    );
    t.stop().await;
}

#[tokio::test]
async fn a_reload_opens_only_keys_it_does_not_hold_on_sqlite() {
    a_reload_opens_only_keys_it_does_not_hold(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_reload_opens_only_keys_it_does_not_hold_on_postgres() {
    a_reload_opens_only_keys_it_does_not_hold(Backend::Postgres).await;
}
