//! The system under test, in child processes, with an account, and the set-up requests scenarios
//! use (keys to list, an agent and its token, an OAuth connection; certificates.rs, mcp.rs and
//! upstream.rs add theirs): either `latchkey dev` (every service in one process, SQLite, the
//! in-process bus) or, with `BENCH_MESH=postgres`, the mesh as deployed: one `latchkey serve`
//! process per service on a fresh PostgreSQL database and a nats-server (JetStream) of its own.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use futures::{StreamExt as _, TryStreamExt as _};
use latchkey_test_support::NatsServer;
use latchkey_test_support::TestDatabase;
use tokio::time::Instant;

use crate::children::{self, ChildGuard};
use crate::upstream::Upstream;

const API_KEYS: &str = "/v1/api-keys";

/// A running Latchkey; its processes are killed (and its database and NATS dropped) with it.
pub struct Latchkey {
    /// What runs: `latchkey dev` or the mesh, with its storage and bus.
    pub system: &'static str,
    /// Where its gateway listens.
    pub port: u16,
    /// The benchmark account's API key.
    pub api_key: String,
    /// The gateway's stdout and stderr (with every other service's under `latchkey dev`).
    pub log: PathBuf,
    /// The OAuth provider registered as its `oidc` provider (tokens_fetch connects to it).
    oidc: crate::oauth_peer::OidcPeer,
    /// Set once the account has connected `oidc`: every scenario that needs it shares one connection.
    oidc_connected: tokio::sync::OnceCell<()>,
    /// The provider its catalogue names for the proxy scenario, when that scenario runs.
    pub upstream: Option<Upstream>,
    _processes: Vec<ChildGuard>,
    _database: Option<TestDatabase>,
    _nats: Option<NatsServer>,
}

/// What the benchmarked request answered, for the floor to replay byte for byte.
pub struct Sample {
    /// The response body.
    pub body: Vec<u8>,
    /// Its `Content-Type`.
    pub content_type: String,
}

/// The binary under test. BENCH_LATCHKEY_BIN benchmarks another build (say, another commit's) with
/// this generator.
fn latchkey_binary() -> std::ffi::OsString {
    std::env::var_os("BENCH_LATCHKEY_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_latchkey").into())
}

/// Settings every benchmarked Latchkey gets, whatever runs it.
fn common_env(oidc: &crate::oauth_peer::OidcPeer, upstream: Option<&Upstream>) -> Vec<(String, String)> {
    let mut env = vec![
        // The default per-key limit is meant for real clients; a one-key benchmark would measure
        // nothing but 429s. Lift it far above any rate this machine can produce.
        ("LATCHKEY__GATEWAY__RATE_LIMIT_PER_SECOND".into(), "1000000".into()),
        ("LATCHKEY__GATEWAY__RATE_LIMIT_BURST".into(), "1000000".into()),
        // The issue scenario asks for thousands of tokens a second for one agent: measure issue,
        // not the per-agent limit in front of it.
        ("LATCHKEY__AGENT_TOKEN__AGENT_RATE_PER_SECOND".into(), "1000000".into()),
        ("LATCHKEY__AGENT_TOKEN__AGENT_RATE_BURST".into(), "1000000".into()),
        (
            "LATCHKEY__AGENT_TOKEN__ACCOUNT_RATE_PER_SECOND".into(),
            "1000000".into(),
        ),
        ("LATCHKEY__AGENT_TOKEN__ACCOUNT_RATE_BURST".into(), "1000000".into()),
        // Smaller than verify_fresh's set of tokens, so it never finds one (see scenario.rs).
        (
            "LATCHKEY__GATEWAY__VERIFIED_TOKEN_CACHE".into(),
            crate::scenario::FRESH_CACHE_ENTRIES.to_string(),
        ),
        ("LATCHKEY__OAUTH__OIDC_DISCOVERY_URL".into(), oidc.discovery_url()),
        (
            "LATCHKEY__OAUTH__CLIENTS__OIDC__CLIENT_ID".into(),
            crate::oauth_peer::CLIENT_ID.into(),
        ),
        (
            "LATCHKEY__OAUTH__CLIENTS__OIDC__CLIENT_SECRET".into(),
            crate::oauth_peer::CLIENT_SECRET.into(),
        ),
    ];
    if let Some(upstream) = upstream {
        env.push((
            "LATCHKEY__OAUTH__CATALOGUE_FILE".into(),
            upstream.catalogue_file.to_string_lossy().into_owned(),
        ));
    }
    env
}

/// Starts what `BENCH_MESH` names (`latchkey dev` by default) under `work_dir`, ready to serve;
/// `with_upstream`: with the proxy scenario's provider running and in its catalogue.
pub async fn start(work_dir: &Path, mesh: bool, with_upstream: bool) -> anyhow::Result<Latchkey> {
    let upstream = if with_upstream {
        Some(Upstream::start(work_dir).await?)
    } else {
        None
    };
    let latchkey = if mesh {
        start_mesh(work_dir, upstream).await?
    } else {
        start_dev(work_dir, upstream).await?
    };
    latchkey
        .oidc
        .register_client(&format!("http://{}/oauth/callback", children::loopback(latchkey.port)))
        .await?;
    Ok(latchkey)
}

/// `latchkey dev` on a fresh data directory, with its bootstrap account.
async fn start_dev(work_dir: &Path, upstream: Option<Upstream>) -> anyhow::Result<Latchkey> {
    let data_dir = work_dir.join("data");
    let log = work_dir.join("latchkey.log");
    let port = children::free_loopback_port()?;
    let log_file = File::create(&log).context("creating the latchkey log")?;
    let oidc = crate::oauth_peer::OidcPeer::start()?;
    let child = Command::new(latchkey_binary())
        .arg("dev")
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--listen")
        .arg(children::loopback(port).to_string())
        .envs(common_env(&oidc, upstream.as_ref()))
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .context("starting `latchkey dev`")?;
    let mut process = ChildGuard::new("latchkey dev", child);
    let ready = format!("http://{}/readyz", children::loopback(port));
    let http = children::setup_client()?;
    if let Err(error) = children::wait_until_ok(&http, &ready, &mut process, Duration::from_secs(60)).await {
        bail!("{error:#}; its output is in {}", log.display());
    }
    let api_key = bootstrap_key(&data_dir.join("bootstrap.key"), &mut process).await?;
    Ok(Latchkey {
        system: "latchkey dev (one process, SQLite, in-process event bus)",
        port,
        api_key,
        log,
        oidc,
        oidc_connected: tokio::sync::OnceCell::new(),
        upstream,
        _processes: vec![process],
        _database: None,
        _nats: None,
    })
}

/// The mesh as deployed: `latchkey serve <service>` per service and the gateway, on a fresh
/// PostgreSQL database and a nats-server of its own; the account comes from `latchkey account
/// create`, as an operator makes one.
async fn start_mesh(work_dir: &Path, upstream: Option<Upstream>) -> anyhow::Result<Latchkey> {
    let database = TestDatabase::postgres().await;
    let nats = NatsServer::spawn().await;
    let oidc = crate::oauth_peer::OidcPeer::start()?;
    let ports: BTreeMap<&str, u16> = ::latchkey::mesh::GRPC_SERVICES
        .iter()
        .map(|service| Ok((service.name(), children::free_loopback_port()?)))
        .collect::<anyhow::Result<_>>()?;
    let gateway_port = children::free_loopback_port()?;
    let mut env = common_env(&oidc, upstream.as_ref());
    env.extend([
        ("LATCHKEY__DATABASE__URL".into(), database.url().to_owned()),
        ("LATCHKEY__NATS__URL".into(), nats.url()),
        (
            "LATCHKEY__MESH__SERVICE_TOKEN".into(),
            "bench-mesh-token-0123456789abcdef".into(),
        ),
        // Measured plaintext, as before mTLS, so figures compare across sessions.
        ("LATCHKEY__MESH__ALLOW_PLAINTEXT".into(), "true".into()),
        // A throwaway root key for the throwaway vault (32 bytes of 0x07).
        (
            "LATCHKEY__VAULT__ROOT_KEYS".into(),
            "1:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=".into(),
        ),
        ("LATCHKEY__SERVER__METRICS_LISTEN".into(), String::new()),
        (
            "LATCHKEY__OAUTH__CALLBACK_URL".into(),
            format!("http://{}/oauth/callback", children::loopback(gateway_port)),
        ),
        // Every process must agree on it: agent-token expects it as certificate JWTs' `aud`.
        (
            "LATCHKEY__SERVER__PUBLIC_URL".into(),
            format!("http://{}", children::loopback(gateway_port)),
        ),
        // The proxy scenario's provider runs on this machine; `latchkey dev` allows loopback
        // upstreams by itself, a deployed gateway only when told so.
        ("LATCHKEY__GATEWAY__PROXY_ALLOW_LOOPBACK".into(), "true".into()),
    ]);
    for (service, port) in &ports {
        let key = format!("LATCHKEY__MESH__{}_URL", service.replace('-', "_").to_uppercase());
        env.push((key, format!("http://{}", children::loopback(*port))));
    }
    let mut processes = Vec::new();
    for (service, port) in ports.iter().map(|(s, p)| (*s, *p)).chain([("gateway", gateway_port)]) {
        let log_file = File::create(work_dir.join(format!("{service}.log"))).context("creating a service log")?;
        let child = Command::new(latchkey_binary())
            .args(["serve", service, "--listen", &children::loopback(port).to_string()])
            .envs(env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting `latchkey serve {service}`"))?;
        processes.push(ChildGuard::new("latchkey serve", child));
    }
    let log = work_dir.join("gateway.log");
    let ready = format!("http://{}/readyz", children::loopback(gateway_port));
    let http = children::setup_client()?;
    let gateway = processes.last_mut().context("the gateway process")?;
    if let Err(error) = children::wait_until_ok(&http, &ready, gateway, Duration::from_secs(60)).await {
        bail!("{error:#}; the services' output is in {}", work_dir.display());
    }
    let output = Command::new(latchkey_binary())
        .args(["account", "create", "Benchmark"])
        .envs(env.iter().cloned())
        .output()
        .context("running `latchkey account create`")?;
    if !output.status.success() {
        bail!(
            "latchkey account create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let api_key = String::from_utf8(output.stdout)?
        .lines()
        .find_map(|line| line.strip_prefix("api key ").map(str::to_owned))
        .context("latchkey account create printed no api key")?;
    Ok(Latchkey {
        system: "latchkey serve x7 (one process per service, PostgreSQL, NATS JetStream)",
        port: gateway_port,
        api_key,
        log,
        oidc,
        oidc_connected: tokio::sync::OnceCell::new(),
        upstream,
        _processes: processes,
        _database: Some(database),
        _nats: Some(nats),
    })
}

/// Waits for the bootstrap key file to be complete (its line ends with a newline) and reads it.
/// `latchkey dev` answers `/readyz` before it has created the bootstrap account, so the file can
/// still be missing, or half-written, when the server is already ready.
async fn bootstrap_key(path: &Path, process: &mut ChildGuard) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        process.ensure_running()?;
        match std::fs::read_to_string(path) {
            Ok(text) if text.ends_with('\n') && !text.trim().is_empty() => return Ok(text.trim().to_owned()),
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
        }
        if Instant::now() >= deadline {
            bail!("{} was not written within 30 s of /readyz", path.display());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Latchkey {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", children::loopback(self.port))
    }

    /// `POST path` with `body` as the bootstrap account; answers the JSON reply of a 2xx.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> anyhow::Result<serde_json::Value> {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// `method path` (with `body` as JSON) as the bootstrap account; answers the JSON reply of a 2xx.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<serde_json::Value> {
        let mut request = children::setup_client()?
            .request(method.clone(), self.url(path))
            .bearer_auth(&self.api_key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            bail!("{method} {path} answered {status}: {body}");
        }
        Ok(response.json().await?)
    }

    /// Creates API keys until the account has `total` (the bootstrap key counts).
    pub async fn ensure_keys(&self, total: usize) -> anyhow::Result<()> {
        let listed = self.send(reqwest::Method::GET, API_KEYS, None).await?;
        let existing = listed["data"].as_array().map_or(0, Vec::len);
        for index in existing..total {
            self.post(API_KEYS, serde_json::json!({ "name": format!("bench key {index}") }))
                .await?;
        }
        Ok(())
    }

    /// Creates an agent and issues it a day-long token for `scope`.
    pub async fn issue_token(&self, scope: &[&str]) -> anyhow::Result<String> {
        let mut tokens = self.issue_tokens(scope, 1).await?;
        tokens.pop().context("no token was issued")
    }

    /// Creates an agent and issues it `count` day-long tokens for `scope`, 16 requests at a time.
    pub async fn issue_tokens(&self, scope: &[&str], count: usize) -> anyhow::Result<Vec<String>> {
        let agent = self
            .post(
                "/v1/agents",
                serde_json::json!({ "name": "bench agent", "owner": "bench@example.com" }),
            )
            .await?;
        let agent_id = agent["id"].as_str().context("the agent has no id")?;
        let request = serde_json::json!({ "agent_id": agent_id, "scope": scope, "ttl": 86_400 });
        let issued: Vec<serde_json::Value> = futures::stream::iter(0..count)
            .map(|_| self.post("/v1/tokens", request.clone()))
            .buffer_unordered(16)
            .try_collect()
            .await?;
        issued
            .iter()
            .map(|issued| Ok(issued["token"].as_str().context("no token was issued")?.to_owned()))
            .collect()
    }

    /// Creates an agent and one active policy allowing `scope_pattern` to it (so every issue is
    /// decided by a matching rule, not by the account default); answers the agent's id.
    pub async fn agent_with_allow_policy(&self, scope_pattern: &str) -> anyhow::Result<String> {
        let agent = self
            .post(
                "/v1/agents",
                serde_json::json!({ "name": "bench issuer", "owner": "bench@example.com" }),
            )
            .await?;
        let agent_id = agent["id"].as_str().context("the agent has no id")?.to_owned();
        let rule =
            serde_json::json!({ "match": { "scopes": [scope_pattern], "agent_ids": [agent_id] }, "effect": "allow" });
        self.post(
            "/v1/policies",
            serde_json::json!({ "name": "bench allow", "rules": [rule] }),
        )
        .await?;
        Ok(agent_id)
    }

    /// Connects the bootstrap account to the `oidc` provider through the whole OAuth flow (session,
    /// login and consent at the provider, callback), once per run; its token is valid for an hour.
    pub async fn connect_oidc(&self) -> anyhow::Result<()> {
        self.oidc_connected.get_or_try_init(|| self.connect_oidc_now()).await?;
        Ok(())
    }

    async fn connect_oidc_now(&self) -> anyhow::Result<()> {
        let session = self
            .post("/oauth/sessions", serde_json::json!({ "provider": "oidc" }))
            .await?;
        let url = session["data"]["url"].as_str().context("the session has no url")?;
        let callback = self.oidc.authorize(url).await?;
        let answer = children::setup_client()?.get(&callback).send().await?;
        if !answer.status().is_success() {
            let body = answer.text().await.unwrap_or_default();
            bail!("the OAuth callback answered: {body}");
        }
        Ok(())
    }

    /// Sends the benchmarked request once, checking that it succeeds (with the last of its
    /// authorizations, if it has its own).
    pub async fn sample(&self, request: &crate::scenario::Request) -> anyhow::Result<Sample> {
        let http = children::setup_client()?;
        let mut sent = http
            .request(request.method.clone(), self.url(&request.path))
            .header(CONTENT_TYPE, "application/json")
            .body(request.body.clone());
        sent = match request.authorizations.last() {
            Some(authorization) => sent.header(AUTHORIZATION, authorization.clone()),
            None => sent.bearer_auth(&self.api_key),
        };
        for (name, value) in &request.headers {
            sent = sent.header(name.clone(), value.clone());
        }
        let response = sent.send().await?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("application/json")
            .to_owned();
        let body = response.bytes().await?.to_vec();
        if !status.is_success() {
            bail!(
                "{} {} answered {status}: {}",
                request.method,
                request.path,
                String::from_utf8_lossy(&body)
            );
        }
        Ok(Sample { body, content_type })
    }
}

/// A stand-in for Latchkey's answer when only the floor is benchmarked: six masked keys.
pub fn synthetic_sample() -> Sample {
    let keys: Vec<_> = (0..6)
        .map(|index| {
            serde_json::json!({
                "id": format!("key_01JDX3Q4ZK7M2N5P8R9S0T1V2{index}"),
                "name": format!("bench key {index}"),
                "prefix": "lk_live_",
                "last4": "G2dA",
                "masked_key": "lk_live_…G2dA",
                "created_at": "2025-01-01T00:00:00Z",
                "last_used_at": null,
            })
        })
        .collect();
    let body = serde_json::to_vec(&serde_json::json!({ "data": keys })).unwrap_or_default();
    Sample {
        body,
        content_type: "application/json".to_owned(),
    }
}
