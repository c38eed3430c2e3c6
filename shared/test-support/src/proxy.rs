//! A TCP forwarder a test can cut: for giving one client its own path to a server (e.g. one
//! instance's NATS connection) and breaking that path while everything else stays connected.

use std::net::SocketAddr;

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

/// Forwards connections on a free loopback port to `upstream`. While cut, it drops every forwarded
/// connection (both sides see them close) and closes new ones as soon as they are accepted. Stops
/// on drop.
#[derive(Debug)]
pub struct TcpProxy {
    address: SocketAddr,
    open: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    /// Starts forwarding to `upstream` (e.g. `127.0.0.1:4222`).
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let address = listener.local_addr().expect("the proxy's address");
        let (open, _) = watch::channel(true);
        let accept = tokio::spawn(accept(listener, upstream, open.subscribe()));
        Self { address, open, accept }
    }

    /// `nats://127.0.0.1:<port>`: the proxy as a NATS server URL.
    pub fn nats_url(&self) -> String {
        format!("nats://{}", self.address)
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Drops every connection and refuses new ones until [`restore`](Self::restore).
    pub fn cut(&self) {
        self.open.send_replace(false);
    }

    /// Forwards new connections again.
    pub fn restore(&self) {
        self.open.send_replace(true);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, open: watch::Receiver<bool>) {
    while let Ok((client, _)) = listener.accept().await {
        if !*open.borrow() {
            // Refused: closed before a byte is exchanged.
            drop(client);
            continue;
        }
        tokio::spawn(forward(client, upstream, open.clone()));
    }
}

/// Copies both ways until either side closes or the proxy is cut (dropping both streams).
async fn forward(mut client: TcpStream, upstream: SocketAddr, mut open: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = open.wait_for(|open| !*open) => {}
    }
}
