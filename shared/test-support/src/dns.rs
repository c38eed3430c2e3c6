//! A real DNS server for tests: dnsmasq (Debian package `dnsmasq-base`) on a free loopback port,
//! serving the TXT records a test gives it and nothing else. Every other name is answered NXDOMAIN
//! (`local=/#/`), never forwarded. Records change by restarting it on the same port with the new
//! set (dnsmasq re-reads hosts files on SIGHUP, but not `txt-record` lines).

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

/// The binary Debian's `dnsmasq-base` package installs.
const DNSMASQ: &str = "/usr/sbin/dnsmasq";
/// How long a starting server may take to accept connections.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// One TXT record: a name and the character-strings of its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxtRecord {
    pub name: String,
    pub strings: Vec<String>,
}

impl TxtRecord {
    /// `name` holding `value` as one string.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            strings: vec![value.into()],
        }
    }

    /// `name` holding its value split into several strings (as long values are).
    pub fn split(name: impl Into<String>, strings: &[&str]) -> Self {
        Self {
            name: name.into(),
            strings: strings.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// A dnsmasq of the test's own on 127.0.0.1, stopped and its directory removed on drop.
#[derive(Debug)]
pub struct DnsServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    records: Vec<TxtRecord>,
}

impl DnsServer {
    /// Starts a server holding `records` and waits until it accepts connections. A name may appear
    /// more than once: it then has several TXT records.
    pub async fn start(records: &[TxtRecord]) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("latchkey-dns-{}", crate::unique_prefix()));
        std::fs::create_dir_all(&dir).expect("create the dnsmasq directory");
        let mut server = Self {
            port,
            dir,
            child: None,
            records: Vec::new(),
        };
        server.serve(records).await;
        server
    }

    /// `127.0.0.1:<port>`, as `domains.nameservers` takes it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Replaces every record with `records`: restarts the server on the same port.
    pub async fn serve(&mut self, records: &[TxtRecord]) {
        self.stop();
        self.records = records.to_vec();
        let config = self.dir.join("dnsmasq.conf");
        std::fs::write(&config, self.config()).expect("write the dnsmasq config");
        let child = Command::new(DNSMASQ)
            .arg(format!("--conf-file={}", config.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start /usr/sbin/dnsmasq (Debian package dnsmasq-base)");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + START_DEADLINE;
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            if let Some(status) = self.child.as_mut().and_then(|child| child.try_wait().ok().flatten()) {
                panic!(
                    "dnsmasq exited with {status} (log: {})",
                    self.dir.join("dnsmasq.log").display()
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "dnsmasq did not accept connections on port {} (log: {})",
                self.port,
                self.dir.join("dnsmasq.log").display()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the server (SIGKILL: it holds nothing to flush) and waits until it exited.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The configuration: this port on loopback only, no upstream, no hosts file, no pid file, in
    /// the foreground; every name not listed answered NXDOMAIN; the log beside the config.
    fn config(&self) -> String {
        let mut config = format!(
            "port={}\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\nno-poll\n\
             keep-in-foreground\npid-file=\nlocal=/#/\nlog-queries\nlog-facility={}\n",
            self.port,
            self.dir.join("dnsmasq.log").display()
        );
        if running_as_root() {
            // As root dnsmasq changes to user `nobody`, who may not write the log in our directory.
            config.push_str("user=root\n");
        }
        for record in &self.records {
            let quoted: Vec<String> = record.strings.iter().map(|s| format!("\"{}\"", escape(s))).collect();
            config.push_str(&format!("txt-record={},{}\n", record.name, quoted.join(",")));
        }
        config
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port free for both TCP and UDP on 127.0.0.1 (dnsmasq serves both on one port).
fn free_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("find a free port");
        let port = tcp.local_addr().expect("the listener's address").port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// dnsmasq's quoting: a backslash escapes the next character inside quotes.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Whether this process runs as root (dnsmasq then drops to `nobody` unless told otherwise).
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|meta| std::os::unix::fs::MetadataExt::uid(&meta) == 0)
        .unwrap_or(false)
}
