//! The OAuth provider the `tokens_fetch` scenario connects to: npm's `oidc-provider` as the OAuth
//! end-to-end tests run it (tests/oauth_peer: install.sh installs it into the cache once, then
//! provider.mjs runs it on a loopback port), registered as `latchkey dev`'s generic `oidc`
//! provider. Only set-up goes through it; the measured request never leaves Latchkey.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Command, Stdio},
};

use anyhow::{Context, bail};

use crate::children::{self, ChildGuard};

pub const CLIENT_ID: &str = "latchkey-bench-client";
pub const CLIENT_SECRET: &str = "bench-client-secret-5d1e7a";

/// A running provider; killed when dropped.
pub struct OidcPeer {
    pub issuer: String,
    _process: ChildGuard,
}

impl OidcPeer {
    pub fn start() -> anyhow::Result<Self> {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oauth_peer/install.sh");
        let installed = Command::new("bash")
            .arg(&script)
            .output()
            .context("running tests/oauth_peer/install.sh")?;
        if !installed.status.success() {
            bail!(
                "installing the OIDC provider failed: {}",
                String::from_utf8_lossy(&installed.stderr)
            );
        }
        let dir = PathBuf::from(String::from_utf8_lossy(&installed.stdout).trim());
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting node provider.mjs")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let process = ChildGuard::new("oidc-provider", child);
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let started: serde_json::Value = serde_json::from_str(&line).context("the provider prints its issuer")?;
        let issuer = started["issuer"].as_str().context("no issuer")?.to_owned();
        Ok(Self {
            issuer,
            _process: process,
        })
    }

    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    /// Registers `latchkey dev`'s OAuth app with its callback.
    pub async fn register_client(&self, callback_url: &str) -> anyhow::Result<()> {
        let response = children::setup_client()?
            .post(format!("{}/__control/clients", self.issuer))
            .json(&serde_json::json!({
                "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [callback_url]
            }))
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("registering the client answered {}", response.status());
        }
        Ok(())
    }

    /// An end user logging in and consenting at `authorization_url`; answers where the provider
    /// finally sends the browser (Latchkey's callback with a code).
    pub async fn authorize(&self, authorization_url: &str) -> anyhow::Result<String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let mut cookies: BTreeMap<String, String> = BTreeMap::new();
        let mut url = authorization_url.to_owned();
        for _ in 0..20 {
            if !url.starts_with(&self.issuer) {
                return Ok(url);
            }
            let path = url.trim_start_matches(&self.issuer).to_owned();
            let request = if let Some(uid) = path.strip_prefix("/interaction/") {
                let page = send(http.get(&url), &mut cookies).await?.text().await?;
                let form = if page.contains("name=\"prompt\" value=\"login\"") {
                    vec![("prompt", "login"), ("login", "bench"), ("password", "any")]
                } else {
                    vec![("prompt", "consent")]
                };
                http.post(format!("{}/interaction/{uid}", self.issuer)).form(&form)
            } else {
                http.get(&url)
            };
            let response = send(request, &mut cookies).await?;
            let location = response
                .headers()
                .get("location")
                .with_context(|| format!("{url} answered {} without a redirect", response.status()))?
                .to_str()?
                .to_owned();
            url = if location.starts_with('/') {
                format!("{}{location}", self.issuer)
            } else {
                location
            };
        }
        bail!("the provider never sent the browser back")
    }
}

async fn send(
    request: reqwest::RequestBuilder,
    cookies: &mut BTreeMap<String, String>,
) -> anyhow::Result<reqwest::Response> {
    let header = cookies
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ");
    let response = request.header("cookie", header).send().await?;
    for set in response.headers().get_all("set-cookie") {
        let pair = set.to_str().unwrap_or_default().split(';').next().unwrap_or_default();
        if let Some((name, value)) = pair.split_once('=') {
            if value.is_empty() {
                cookies.remove(name);
            } else {
                cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }
    Ok(response)
}
