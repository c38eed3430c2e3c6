//! The provider the `proxy` scenario proxies to: the floor server (floor.rs) answering a small JSON
//! body on every path, declared in the deployment's catalogue file (`oauth.catalogue_file`) as the
//! API-key provider [`PROVIDER`], whose key goes in `x-bench-key`, with one service below its
//! `/v1`. The account stores the key write-only; the measured request asks
//! `/proxy/benchco/api/items/42`, which Latchkey forwards to the provider's `/v1/items/42` with the
//! key added; the scenario's floor is the same provider asked `/v1/items/42` directly.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::children;
use crate::floor::{self, Floor};
use crate::latchkey::Latchkey;
use crate::scenario::Request;

/// The provider's code in the catalogue.
const PROVIDER: &str = "benchco";
/// Its one service.
const SERVICE: &str = "api";
/// What the scenario asks, below the service's base URL.
const PATH: &str = "items/42";
/// The account's key for it (stored write-only; only the provider ever sees it).
const KEY: &str = "bench-provider-key-3c9e1a7f5d20";
/// What the provider answers: a small JSON resource, as an API would.
const BODY: &str = r#"{"id":42,"name":"bench item","status":"active","owner":{"login":"bench","id":7},"tags":["alpha","beta"],"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-02T00:00:00Z"}"#;

/// The running provider, and the catalogue file naming it; the server is killed when dropped.
pub struct Upstream {
    pub addr: SocketAddr,
    /// For `LATCHKEY__OAUTH__CATALOGUE_FILE`.
    pub catalogue_file: PathBuf,
    _server: Floor,
}

impl Upstream {
    /// Starts the provider and writes the catalogue file naming it into `work_dir`.
    pub async fn start(work_dir: &Path) -> anyhow::Result<Self> {
        let server = floor::spawn_named("upstream", BODY.as_bytes(), "application/json", work_dir).await?;
        let addr = children::loopback(server.port);
        let catalogue_file = work_dir.join("providers.toml");
        let catalogue = format!(
            r#"[[provider]]
code = "{PROVIDER}"
name = "Bench Co"
kind = "api_key"
docs_url = "https://bench.example/docs"
proxy_auth = "header:x-bench-key"
services = [{{ code = "{SERVICE}", name = "Bench API", api_base_url = "http://{addr}/v1" }}]
"#
        );
        std::fs::write(&catalogue_file, catalogue).context("writing the catalogue file")?;
        Ok(Self {
            addr,
            catalogue_file,
            _server: server,
        })
    }
}

impl Latchkey {
    /// Stores the account's key for the bench's provider and answers the proxied request, whose
    /// floor is the provider itself; checks once that the provider's answer comes back through.
    pub async fn proxied_request(&self) -> anyhow::Result<Request> {
        let Some(upstream) = &self.upstream else {
            bail!("the proxy scenario's provider was not started with Latchkey");
        };
        let key = serde_json::json!({ format!("{PROVIDER}ApiKey"): KEY, "writeOnly": true });
        self.send(reqwest::Method::PUT, "/credentials", Some(key)).await?;
        let request = Request {
            upstream: Some(crate::scenario::UpstreamCall {
                addr: upstream.addr,
                path: format!("/v1/{PATH}"),
            }),
            ..Request::get(&format!("/proxy/{PROVIDER}/{SERVICE}/{PATH}"))
        };
        let answer = children::setup_client()?
            .get(self.url(&request.path))
            .bearer_auth(&self.api_key)
            .send()
            .await?;
        let proxied = answer.headers().contains_key("latchkey-proxied");
        let status = answer.status();
        let body = answer.text().await?;
        if !status.is_success() || !proxied || body != BODY {
            bail!(
                "GET {} answered {status} (proxied: {proxied}) instead of the provider's body: {body}",
                request.path
            );
        }
        Ok(request)
    }
}
