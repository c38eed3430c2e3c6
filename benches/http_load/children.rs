//! Child processes the benchmark starts, and the plumbing to wait for them to serve.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::Child;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::time::Instant;

/// Owns a child process and kills it when dropped, so a panic, an error or Ctrl-C in the
/// benchmark never leaves a server running behind it.
pub struct ChildGuard {
    name: &'static str,
    child: Child,
}

impl ChildGuard {
    /// Takes ownership of `child`; `name` appears in messages about it.
    pub fn new(name: &'static str, child: Child) -> Self {
        Self { name, child }
    }

    /// Fails if the child has already exited, which means it will never become ready.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        match self
            .child
            .try_wait()
            .with_context(|| format!("polling {}", self.name))?
        {
            Some(status) => bail!("{} exited early with {status}", self.name),
            None => Ok(()),
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // Already exited: nothing to kill. Otherwise SIGKILL and reap, so no zombie remains.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago. The listener is dropped before the child
/// binds it; on a quiet loopback the race is theoretical, and a lost race fails loudly at start-up.
pub fn free_loopback_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding a probe port")?;
    Ok(listener.local_addr()?.port())
}

/// The loopback address of `port`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// An HTTP client for set-up requests (readiness, key creation); the load itself uses hyper.
pub fn setup_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .context("building the set-up HTTP client")
}

/// Polls `url` until it answers 200, the child dies, or `limit` passes.
pub async fn wait_until_ok(
    http: &reqwest::Client,
    url: &str,
    child: &mut ChildGuard,
    limit: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        child.ensure_running()?;
        let last = match http.get(url).send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => format!("status {}", response.status()),
            Err(error) => error.to_string(),
        };
        if Instant::now() >= deadline {
            bail!("{url} did not answer 200 within {limit:?} (last: {last})");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
