//! The test harness: a whole Latchkey mesh in this process, on a storage backend and an event bus
//! of the test's choosing, each test with its own database and its own NATS server.

use std::time::Duration;

use latchkey::mesh::{DatabasePlan, RunningMesh, ServiceSettings};
use latchkey_events::EventBus;
use latchkey_gateway::GatewayConfig;
use latchkey_server::MeshAuth;
use latchkey_storage::{Backend, Db};
use latchkey_test_support::{
    NatsServer, TestDatabase,
    mesh::{vault_client, vault_root_keys},
    nats_bus, read_until,
};
use serde_json::Value;

/// The service token of every test mesh.
pub const MESH_TOKEN: &str = "test-service-token-0123456789";

/// Which event bus a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bus {
    /// The in-process bus of `latchkey dev`.
    Local,
    /// NATS JetStream (a nats-server of the test's own).
    Nats,
}

/// The PostgreSQL connections each service of a test's mesh opens at most. Meshes of tests running
/// side by side share one PostgreSQL server (100 connections): small pools keep them under it, as
/// an operator budgets replicas (docs/operations.md).
pub const MESH_POOL_CONNECTIONS: u32 = 4;

/// A running mesh and what it stands on; everything is removed on drop.
pub struct TestMesh {
    pub mesh: RunningMesh,
    pub http: reqwest::Client,
    pub base: String,
    /// The first account's API key.
    pub key: String,
    pub account_id: String,
    pub nats: Option<NatsServer>,
    _database: TestDatabase,
    _bus_database: Option<TestDatabase>,
}

pub fn gateway_config() -> GatewayConfig {
    GatewayConfig {
        // Tests make many calls with one key; the limit itself is tested with a config of its own.
        rate_limit_per_second: 100_000,
        rate_limit_burst: 100_000,
        ..GatewayConfig::default()
    }
}

impl TestMesh {
    pub async fn start(backend: Backend, bus: Bus) -> Self {
        Self::start_with(backend, bus, gateway_config()).await
    }

    pub async fn start_with(backend: Backend, bus: Bus, gateway: GatewayConfig) -> Self {
        Self::start_with_settings(
            backend,
            bus,
            ServiceSettings {
                gateway,
                ..ServiceSettings::default()
            },
        )
        .await
    }

    /// A mesh whose oauth service has `oauth` (an empty callback URL: the gateway's own).
    pub async fn start_with_oauth(
        backend: Backend,
        bus: Bus,
        gateway: GatewayConfig,
        oauth: latchkey_oauth::OauthConfig,
    ) -> Self {
        let settings = ServiceSettings {
            gateway,
            oauth,
            ..ServiceSettings::default()
        };
        Self::start_with_settings(backend, bus, settings).await
    }

    /// A mesh whose services have `settings`.
    pub async fn start_with_settings(backend: Backend, bus: Bus, settings: ServiceSettings) -> Self {
        let database = TestDatabase::new(backend).await;
        let plan = DatabasePlan::Url {
            url: database.url().to_owned(),
            max_connections: MESH_POOL_CONNECTIONS,
        };
        let (event_bus, nats, bus_database) = match bus {
            Bus::Local => {
                let bus_database = TestDatabase::sqlite();
                let db = Db::connect(bus_database.url()).await.expect("open the bus database");
                (EventBus::local(db).await.expect("local bus"), None, Some(bus_database))
            }
            Bus::Nats => {
                let server = NatsServer::spawn().await;
                let bus = nats_bus(&server.url(), "latchkey").await;
                (bus, Some(server), None)
            }
        };
        let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mesh = RunningMesh::start(
            plan,
            event_bus,
            MeshAuth::new(MESH_TOKEN),
            vault_root_keys(),
            settings,
            http_listener,
        )
        .await
        .expect("start the mesh");
        let (account_id, key) = mesh.create_account("First account").await.expect("create account");
        let base = format!("http://{}", mesh.http_addr);
        Self {
            mesh,
            http: reqwest::Client::new(),
            base,
            key,
            account_id,
            nats,
            _database: database,
            _bus_database: bus_database,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with `key` as the bearer credential.
    pub fn as_key(&self, method: reqwest::Method, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(key)
    }

    pub async fn create_key(&self, key: &str, name: &str) -> Value {
        let response = self
            .as_key(reqwest::Method::POST, "/v1/api-keys", key)
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await
            .expect("POST /v1/api-keys");
        assert_eq!(response.status(), 201, "create key");
        response.json().await.expect("json")
    }

    pub async fn list_keys(&self, key: &str) -> Vec<Value> {
        let response = self
            .as_key(reqwest::Method::GET, "/v1/api-keys", key)
            .send()
            .await
            .expect("GET /v1/api-keys");
        assert_eq!(response.status(), 200, "list keys");
        let body: Value = response.json().await.expect("json");
        body["data"].as_array().cloned().unwrap_or_default()
    }

    /// Every audit entry of `key`'s account, oldest first, following the cursor.
    pub async fn audit_entries(&self, key: &str) -> Vec<Value> {
        let mut entries = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = "/v1/audit?order=asc&limit=500".to_owned();
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let response = self
                .as_key(reqwest::Method::GET, &path, key)
                .send()
                .await
                .expect("GET /v1/audit");
            assert_eq!(response.status(), 200, "audit");
            let page: Value = response.json().await.expect("json");
            entries.extend(page["data"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return entries,
            }
        }
    }

    /// Waits until the account's audit chain holds at least `count` entries.
    pub async fn audit_entries_at_least(&self, key: &str, count: usize) -> Vec<Value> {
        let entries = read_until(
            Duration::from_secs(30),
            || self.audit_entries(key),
            |entries| entries.len() >= count,
        )
        .await;
        assert!(
            entries.len() >= count,
            "expected {count} audit entries, found {}",
            entries.len()
        );
        entries
    }

    /// Waits until the account's audit chain holds at least `count` entries of `event_type`, and
    /// answers those.
    pub async fn audit_entries_of(&self, key: &str, event_type: &str, count: usize) -> Vec<Value> {
        let of_type = || async {
            let entries = self.audit_entries(key).await;
            entries
                .into_iter()
                .filter(|entry| entry["type"] == event_type)
                .collect::<Vec<_>>()
        };
        let entries = read_until(Duration::from_secs(30), of_type, |entries| entries.len() >= count).await;
        assert!(
            entries.len() >= count,
            "expected {count} {event_type} entries: {entries:?}"
        );
        entries
    }

    /// A service `org/service` of `account_key`'s account (the organization made when missing), with
    /// `settings` (e.g. `redirect_uris`) beside its slug and name, and one API key of it: answers the
    /// key's secret (`lk_svc_…`).
    pub async fn service_key(&self, account_key: &str, org: &str, service: &str, settings: Value) -> String {
        let existing = self
            .as_key(reqwest::Method::GET, &format!("/api/organizations/{org}"), account_key)
            .send()
            .await
            .expect("GET the organization");
        if existing.status() == reqwest::StatusCode::NOT_FOUND {
            self.created(
                account_key,
                "/api/organizations",
                serde_json::json!({ "slug": org, "name": org }),
            )
            .await;
        }
        let mut body = serde_json::json!({ "slug": service, "name": service });
        if let (Some(extra), Some(target)) = (settings.as_object(), body.as_object_mut()) {
            target.extend(extra.clone());
        }
        self.created(account_key, &format!("/api/organizations/{org}/services"), body)
            .await;
        let key = self
            .created(
                account_key,
                &format!("/api/organizations/{org}/services/{service}/api-keys"),
                serde_json::json!({ "name": "backend" }),
            )
            .await;
        key["key"].as_str().expect("the key's secret").to_owned()
    }

    /// A second gateway on the same services, as another replica would be: its base URL, and the
    /// tasks that serve it (it stops when they are dropped or the mesh stops).
    pub async fn another_gateway(&self) -> (String, latchkey_server::Tasks) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let tasks = latchkey::mesh::spawn_service(
            latchkey::cli::Service::Gateway,
            listener,
            &self.mesh.context,
            self.mesh.shutdown.clone(),
        )
        .await
        .expect("a second gateway");
        (base, tasks)
    }

    /// `GET path` with `key`, asserting 200; answers the body.
    pub async fn read(&self, key: &str, path: &str) -> Value {
        let response = self.as_key(reqwest::Method::GET, path, key).send().await.expect(path);
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, reqwest::StatusCode::OK, "GET {path}: {answer}");
        answer
    }

    /// `POST path` with `key`, asserting 201; answers the body.
    pub async fn created(&self, key: &str, path: &str, body: Value) -> Value {
        let response = self
            .as_key(reqwest::Method::POST, path, key)
            .json(&body)
            .send()
            .await
            .expect(path);
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, reqwest::StatusCode::CREATED, "POST {path}: {answer}");
        answer
    }

    pub async fn stop(self) {
        self.mesh.stop().await;
    }

    /// Stops every service and starts them again on the same database, bus and vault root key,
    /// as a redeploy would: nothing held in memory survives, everything stored does.
    pub async fn restart(self) -> Self {
        let Self {
            mesh,
            http,
            key,
            account_id,
            nats,
            _database,
            _bus_database,
            ..
        } = self;
        let mut context = mesh.context.clone();
        let old_public_url = format!("http://{}", mesh.http_addr);
        mesh.stop().await;
        // What was derived from the old address is derived again from the new one.
        if context.settings.public_url == old_public_url {
            context.settings.public_url = String::new();
        }
        if context.settings.oauth.callback_url == format!("{old_public_url}/oauth/callback") {
            context.settings.oauth.callback_url = String::new();
        }
        let bus = match (&nats, &_bus_database) {
            (Some(server), _) => nats_bus(&server.url(), "latchkey").await,
            (None, Some(bus_database)) => {
                let db = Db::connect(bus_database.url()).await.expect("open the bus database");
                EventBus::local(db).await.expect("local bus")
            }
            (None, None) => unreachable!("a test mesh has a bus"),
        };
        let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mesh = RunningMesh::start(
            context.database,
            bus,
            context.mesh_auth,
            context.vault_root_keys.expect("the mesh's vault root keys"),
            context.settings,
            http_listener,
        )
        .await
        .expect("restart the mesh");
        let base = format!("http://{}", mesh.http_addr);
        Self {
            mesh,
            http,
            base,
            key,
            account_id,
            nats,
            _database,
            _bus_database,
        }
    }

    /// A client of the mesh's vault for the system account's secrets (the services' own keys).
    pub fn system_secrets(&self) -> latchkey_server::SystemSecrets {
        let url = self
            .mesh
            .urls
            .of(latchkey::cli::Service::Vault)
            .expect("the vault's address");
        vault_client(url, &self.mesh.context.mesh_auth)
    }
}

/// Recomputes an exported chain (the JSON entries of `GET /v1/audit`) with the audit crate's
/// public algorithm; answers the first broken seq, if any.
pub fn first_broken_entry(account_id: &str, entries: &[Value]) -> Option<i64> {
    let chain: Vec<latchkey_audit::ChainEntry> = entries
        .iter()
        .map(|e| latchkey_audit::ChainEntry {
            account_id: account_id.to_owned(),
            seq: e["seq"].as_i64().unwrap_or_default(),
            event_id: e["event_id"].as_str().unwrap_or_default().to_owned(),
            event_type: e["type"].as_str().unwrap_or_default().to_owned(),
            time_ms: chrono::DateTime::parse_from_rfc3339(e["time"].as_str().unwrap_or_default())
                .map(|t| t.timestamp_millis())
                .unwrap_or_default(),
            actor: e["actor"].as_str().unwrap_or_default().to_owned(),
            subject: e["subject"].as_str().unwrap_or_default().to_owned(),
            decision_id: e["decision_id"].as_str().unwrap_or_default().to_owned(),
            data: e["data"].clone(),
            prev_hash: e["prev_hash"].as_str().unwrap_or_default().to_owned(),
            hash: e["hash"].as_str().unwrap_or_default().to_owned(),
        })
        .collect();
    latchkey_audit::verify_entries(&chain).first_broken_seq
}
