//! The receiver the webhook tests deliver to: tests/webhook_peer/receiver.py, which verifies every
//! delivery with PyPI's `standardwebhooks` (the Standard Webhooks project's reference library, not
//! ours), installed on first use by tests/webhook_peer/install.sh into a cache outside the repo.

use std::{path::PathBuf, process::Stdio};

use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// A running receiver; stopped on drop.
pub struct VerifyingReceiver {
    pub url: String,
    base: String,
    http: reqwest::Client,
    _child: Child,
}

fn install() -> PathBuf {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/webhook_peer/install.sh");
    let output = std::process::Command::new("bash")
        .arg(&script)
        .output()
        .expect("run tests/webhook_peer/install.sh");
    assert!(
        output.status.success(),
        "installing standardwebhooks failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

impl VerifyingReceiver {
    pub async fn start() -> Self {
        let dir = tokio::task::spawn_blocking(install).await.expect("install");
        let mut child = Command::new(dir.join("venv/bin/python"))
            .arg("receiver.py")
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start receiver.py");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .await
            .expect("read the port");
        let started: Value = serde_json::from_str(&line).expect("the receiver prints its port");
        let base = format!("http://127.0.0.1:{}", started["port"]);
        Self {
            url: format!("{base}/hooks"),
            base,
            http: reqwest::Client::new(),
            _child: child,
        }
    }

    /// The secrets to verify with, by name.
    pub async fn verify_with(&self, secrets: &[(&str, &str)]) {
        let secrets: serde_json::Map<String, Value> = secrets
            .iter()
            .map(|(name, secret)| ((*name).to_owned(), Value::String((*secret).to_owned())))
            .collect();
        let response = self
            .http
            .post(format!("{}/__secrets", self.base))
            .json(&secrets)
            .send()
            .await
            .expect("set secrets");
        assert_eq!(response.status(), 204);
    }

    /// Every delivery so far: `{id, body, verified: {name: bool}}`.
    pub async fn received(&self) -> Vec<Value> {
        self.http
            .get(format!("{}/__received", self.base))
            .send()
            .await
            .expect("received")
            .json()
            .await
            .expect("json")
    }

    /// Waits until `count` deliveries arrived; answers them all.
    pub async fn wait_for(&self, count: usize) -> Vec<Value> {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let received = self.received().await;
            if received.len() >= count {
                return received;
            }
            assert!(
                std::time::Instant::now() < until,
                "expected {count} deliveries, got {}",
                received.len()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
