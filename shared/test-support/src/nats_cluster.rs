//! A three-node NATS cluster with JetStream on loopback, for the fault suite: three nats-server
//! processes with a store each, routed to one another, any of which can be killed and started
//! again. Removed on drop.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use crate::unique_prefix;

const NATS_SERVER: &str = "/usr/sbin/nats-server";

/// One node: its client and cluster ports, and its process while it runs.
#[derive(Debug)]
struct Node {
    name: String,
    client_port: u16,
    cluster_port: u16,
    child: Option<Child>,
}

/// Three nats-server processes forming one JetStream cluster.
#[derive(Debug)]
pub struct NatsCluster {
    dir: PathBuf,
    nodes: Vec<Node>,
    /// More of every node's configuration (e.g. an `authorization` block).
    config: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("find a free port")
        .port()
}

impl NatsCluster {
    /// Starts three nodes and waits until each accepts connections (JetStream elects its leaders
    /// shortly after: a stream created meanwhile is retried by the services until it is).
    pub async fn spawn() -> Self {
        Self::spawn_with_config("").await
    }

    /// Starts three nodes with `config` in each one's configuration file, e.g. an `authorization`
    /// block: the users the cluster admits and their permissions.
    pub async fn spawn_with_config(config: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("latchkey-nats-cluster-{}", unique_prefix()));
        let nodes = (0..3)
            .map(|n| Node {
                name: format!("n{n}"),
                client_port: free_port(),
                cluster_port: free_port(),
                child: None,
            })
            .collect();
        let mut cluster = Self {
            dir,
            nodes,
            config: config.to_owned(),
        };
        for n in 0..3 {
            cluster.write_config(n);
        }
        for n in 0..3 {
            cluster.start(n).await;
        }
        cluster
    }

    fn write_config(&self, n: usize) {
        let node = &self.nodes[n];
        let store = self.dir.join(&node.name);
        std::fs::create_dir_all(&store).expect("create a node's store");
        let routes: Vec<String> = self
            .nodes
            .iter()
            .filter(|other| other.name != node.name)
            .map(|other| format!("nats-route://127.0.0.1:{}", other.cluster_port))
            .collect();
        let config = format!(
            "server_name: {name}\nlisten: 127.0.0.1:{client}\njetstream {{ store_dir: \"{store}\" }}\n\
             cluster {{\n  name: latchkey-test\n  listen: 127.0.0.1:{cluster}\n  routes: [{routes}]\n}}\n{extra}\n",
            name = node.name,
            client = node.client_port,
            store = store.display(),
            cluster = node.cluster_port,
            routes = routes.join(", "),
            extra = self.config,
        );
        std::fs::write(self.dir.join(format!("{}.conf", node.name)), config).expect("write a node's config");
    }

    /// The three client URLs, comma-separated, as `nats.url` takes them.
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(|node| format!("nats://127.0.0.1:{}", node.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The nodes' logs: what they refused (permissions violations, failed authentication) is there.
    pub fn logs(&self) -> Vec<PathBuf> {
        self.nodes
            .iter()
            .map(|node| self.dir.join(format!("{}.log", node.name)))
            .collect()
    }

    /// The index of the node named `name` (`n0`, `n1`, `n2`), as JetStream names a leader.
    pub fn node_named(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|node| node.name == name)
    }

    /// Kills node `n` (SIGKILL), as a crash would.
    pub fn kill(&mut self, n: usize) {
        if let Some(mut child) = self.nodes[n].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node `n` (again) and waits until it accepts connections.
    pub async fn start(&mut self, n: usize) {
        if self.nodes[n].child.is_some() {
            return;
        }
        let name = self.nodes[n].name.clone();
        let child = Command::new(NATS_SERVER)
            .arg("-c")
            .arg(self.dir.join(format!("{name}.conf")))
            .arg("-l")
            .arg(self.dir.join(format!("{name}.log")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start /usr/sbin/nats-server (Debian package nats-server)");
        self.nodes[n].child = Some(child);
        let port = self.nodes[n].client_port;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "nats node {name} did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for n in 0..self.nodes.len() {
            self.kill(n);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
