//! NATS for tests: a unique subject prefix per test, a bus under it, and a nats-server of the
//! test's own that can be stopped and started again on the same port and store, for tests about
//! broker outages.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use latchkey_events::{EventBus, NatsConnection};

/// The binary Debian's `nats-server` package installs.
const NATS_SERVER: &str = "/usr/sbin/nats-server";
/// How long a starting server may take to accept connections.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// A subject prefix no other test uses, e.g. `t0195…`; its stream is `T0195…_EVENTS`.
pub fn unique_prefix() -> String {
    format!("t{}", uuid::Uuid::now_v7().simple())
}

/// Where tests find the shared NATS server; `LATCHKEY_TEST_NATS` overrides the machine's default.
pub fn nats_url() -> String {
    std::env::var("LATCHKEY_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A JetStream bus under `prefix` on the server at `url` (its stream is the prefix's own). The
/// client keeps trying while the server is not up yet.
pub async fn nats_bus(url: &str, prefix: &str) -> EventBus {
    let connection = NatsConnection::connect(url, async_nats::ConnectOptions::new().retry_on_initial_connect())
        .await
        .expect("connect to NATS");
    EventBus::nats(connection, prefix).await.expect("NATS bus")
}

/// A nats-server with JetStream on a free port and a store directory of its own, killed and
/// removed on drop. Its log is `server.log` beside the store.
#[derive(Debug)]
pub struct NatsServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// The server's `max_payload` in bytes; `None`: its default (1 MiB).
    max_payload: Option<usize>,
    /// More of the server's configuration (e.g. an `authorization` block), as its file has it.
    config: String,
}

impl NatsServer {
    /// Starts a server and waits until it accepts connections.
    pub async fn spawn() -> Self {
        Self::spawn_with(None).await
    }

    /// Starts a server that refuses messages larger than `bytes` (`max_payload`).
    pub async fn spawn_with_max_payload(bytes: usize) -> Self {
        Self::spawn_with(Some(bytes)).await
    }

    /// Sets the `max_payload` the server has from its next [`start`](Self::start) on.
    pub fn set_max_payload(&mut self, bytes: usize) {
        self.max_payload = Some(bytes);
    }

    /// Starts a server with `config` in its configuration file, e.g. an `authorization` block: the
    /// users it admits and their permissions.
    pub async fn spawn_with_config(config: &str) -> Self {
        let mut server = Self::unstarted(None);
        server.config = config.to_owned();
        server.start().await;
        server
    }

    async fn spawn_with(max_payload: Option<usize>) -> Self {
        let mut server = Self::unstarted(max_payload);
        server.start().await;
        server
    }

    fn unstarted(max_payload: Option<usize>) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("find a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("latchkey-nats-{}", unique_prefix()));
        std::fs::create_dir_all(dir.join("store")).expect("create the nats-server store directory");
        Self {
            port,
            dir,
            child: None,
            max_payload,
            config: String::new(),
        }
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log: what it refused (permissions violations, failed authentication) is here.
    pub fn log(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// The JetStream store directory (`-sd`): what a file-level backup copies while the server is
    /// stopped.
    pub fn store_dir(&self) -> PathBuf {
        self.dir.join("store")
    }

    /// Stops the server the way `docker stop` or systemd would (SIGTERM), and waits until it
    /// exited; it flushes its store first. Its store stays for [`start`](Self::start).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let terminated = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status()
                .is_ok_and(|status| status.success());
            if !terminated {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }

    /// Kills the server (SIGKILL), as a crash would. Its store stays, but acks it had not yet
    /// written are lost: JetStream redelivers those events once their ack wait (30 s) has passed.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on the same port and store, and waits until it accepts
    /// connections. Does nothing when it runs already.
    pub async fn start(&mut self) {
        if self.child.is_some() {
            return;
        }
        let mut command = Command::new(NATS_SERVER);
        let mut config = self.config.clone();
        if let Some(bytes) = self.max_payload {
            config.push_str(&format!("\nmax_payload: {bytes}\n"));
        }
        if !config.is_empty() {
            let file = self.dir.join("server.conf");
            std::fs::write(&file, config).expect("write the nats-server config");
            command.arg("-c").arg(file);
        }
        let child = command
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(self.dir.join("store"))
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start /usr/sbin/nats-server (Debian package nats-server)");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + START_DEADLINE;
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "nats-server did not accept connections on port {} (log: {})",
                self.port,
                self.dir.join("server.log").display()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
