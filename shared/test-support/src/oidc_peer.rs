//! The OAuth provider tests authorize against: npm's `oidc-provider` (a certified OpenID Connect
//! implementation, not ours), installed on first use by the repository's tests/oauth_peer/install.sh
//! and started on a loopback port per test (feature `oidc`). Also an end user's browser: it follows the provider's
//! redirects, logs in and consents (or refuses) on its development pages, keeping its cookies.

use std::{collections::BTreeMap, path::PathBuf, process::Stdio};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

pub const CLIENT_ID: &str = "latchkey-test-client";
pub const CLIENT_SECRET: &str = "client-secret-4f9a0c7e1b2d8a3f6e5c";

/// A running provider; stopped on drop.
pub struct OidcPeer {
    pub issuer: String,
    http: reqwest::Client,
    _child: Child,
}

fn install() -> PathBuf {
    // This crate sits two folders below the repository's root, where the peer's files are.
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oauth_peer/install.sh");
    let output = std::process::Command::new("bash")
        .arg(&script)
        .output()
        .expect("run tests/oauth_peer/install.sh");
    assert!(
        output.status.success(),
        "installing the OIDC provider failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

impl OidcPeer {
    pub async fn start() -> Self {
        let dir = tokio::task::spawn_blocking(install).await.expect("install");
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start node provider.mjs");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .await
            .expect("read the issuer");
        let started: Value = serde_json::from_str(&line).expect("the provider prints its issuer");
        let issuer = started["issuer"].as_str().expect("issuer").to_owned();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            issuer,
            http,
            _child: child,
        }
    }

    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    async fn control(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/__control/{path}", self.issuer))
            .json(&body)
            .send()
            .await
            .expect("provider control");
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.expect("json")
    }

    /// Registers the deployment's OAuth app with `redirect_uris`: the gateway's callback, and the
    /// client redirect URIs of AGNT's flow.
    pub async fn register_client(&self, redirect_uris: &[&str]) {
        self.register_app(CLIENT_ID, CLIENT_SECRET, redirect_uris).await;
    }

    /// Registers an OAuth app (an account's own, say) under its own client id and secret.
    pub async fn register_app(&self, client_id: &str, client_secret: &str, redirect_uris: &[&str]) {
        self.control(
            "clients",
            json!({ "client_id": client_id, "client_secret": client_secret, "redirect_uris": redirect_uris }),
        )
        .await;
    }

    /// The lifetime of access tokens the provider issues from now on.
    pub async fn set_access_token_ttl(&self, seconds: u64) {
        self.control("ttl", json!({ "seconds": seconds })).await;
    }

    /// The provider answers every token request `ms` milliseconds late from now on (0: at once).
    pub async fn set_token_delay(&self, ms: u64) {
        self.control("token-delay", json!({ "ms": ms })).await;
    }

    /// The provider forgets every grant, as when the user revokes access in its settings.
    pub async fn revoke_all_grants(&self) {
        self.control("revoke-grants", json!({})).await;
    }

    /// How many refresh requests, code exchanges and revocations the provider has seen.
    pub async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/__control/stats", self.issuer))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("json")
    }

    pub async fn refreshes(&self) -> u64 {
        self.stats().await["refreshes"].as_u64().unwrap_or_default()
    }

    /// The end user at `authorization_url`: logs in as `user` and consents (or, with `consent`
    /// false, aborts at the first page). Answers the URL the provider finally sends the browser
    /// to (Latchkey's callback, with `code` or `error`).
    pub async fn authorize(&self, authorization_url: &str, user: &str, consent: bool) -> String {
        let mut cookies: BTreeMap<String, String> = BTreeMap::new();
        let mut url = authorization_url.to_owned();
        for _ in 0..20 {
            if !url.starts_with(&self.issuer) {
                return url;
            }
            let path = url.trim_start_matches(&self.issuer).to_owned();
            let request = if let Some(uid) = path.strip_prefix("/interaction/") {
                let page = self.send(self.http.get(&url), &mut cookies).await;
                let body = page.text().await.expect("page");
                if !consent {
                    self.http.get(format!("{url}/abort"))
                } else if body.contains("name=\"prompt\" value=\"login\"") {
                    self.http.post(format!("{}/interaction/{uid}", self.issuer)).form(&[
                        ("prompt", "login"),
                        ("login", user),
                        ("password", "any"),
                    ])
                } else {
                    self.http
                        .post(format!("{}/interaction/{uid}", self.issuer))
                        .form(&[("prompt", "consent")])
                }
            } else {
                self.http.get(&url)
            };
            let response = self.send(request, &mut cookies).await;
            assert!(
                response.status().is_redirection(),
                "{url}: the provider answered {}",
                response.status()
            );
            let location = response.headers()["location"].to_str().expect("location").to_owned();
            url = if location.starts_with('/') {
                format!("{}{location}", self.issuer)
            } else {
                location
            };
        }
        panic!("the provider never sent the browser back");
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        cookies: &mut BTreeMap<String, String>,
    ) -> reqwest::Response {
        let header = cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ");
        let response = request.header("cookie", header).send().await.expect("provider request");
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
        response
    }
}
