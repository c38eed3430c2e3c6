//! A TCP forwarder a test can cut: for giving one client its own path to a server (e.g. one
//! instance's NATS connection) and breaking that path while everything else stays connected. It
//! can also swallow what the client sends, so a request is lost as it is when the broker dies
//! with it unanswered.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
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
    swallow: Arc<Swallow>,
    accept: JoinHandle<()>,
}

/// Whether what clients send is dropped rather than passed on, and what was.
#[derive(Debug, Default)]
struct Swallow {
    on: AtomicBool,
    swallowed: Mutex<Vec<u8>>,
}

impl TcpProxy {
    /// Starts forwarding to `upstream` (e.g. `127.0.0.1:4222`).
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let address = listener.local_addr().expect("the proxy's address");
        let (open, _) = watch::channel(true);
        let swallow = Arc::new(Swallow::default());
        let accept = tokio::spawn(accept(listener, upstream, open.subscribe(), swallow.clone()));
        Self {
            address,
            open,
            swallow,
            accept,
        }
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

    /// Forwards new connections again, both ways.
    pub fn restore(&self) {
        self.swallow.on.store(false, Ordering::SeqCst);
        self.open.send_replace(true);
    }

    /// From now on, drops what clients send on the open connections, as a broker that died before
    /// reading it would, while still passing on what the server sends them. Until
    /// [`restore`](Self::restore).
    pub fn swallow_what_clients_send(&self) {
        self.swallow.on.store(true, Ordering::SeqCst);
    }

    /// What clients sent that was swallowed, in the order it came.
    pub fn swallowed(&self) -> Vec<u8> {
        self.swallow.swallowed.lock().expect("swallowed bytes").clone()
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, open: watch::Receiver<bool>, swallow: Arc<Swallow>) {
    while let Ok((client, _)) = listener.accept().await {
        if !*open.borrow() {
            // Refused: closed before a byte is exchanged.
            drop(client);
            continue;
        }
        tokio::spawn(forward(client, upstream, open.clone(), swallow.clone()));
    }
}

/// Copies both ways until either side closes or the proxy is cut (dropping both streams).
async fn forward(client: TcpStream, upstream: SocketAddr, mut open: watch::Receiver<bool>, swallow: Arc<Swallow>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    tokio::select! {
        _ = client_to_server(&mut from_client, &mut to_server, &swallow) => {}
        _ = tokio::io::copy(&mut from_server, &mut to_client) => {}
        _ = open.wait_for(|open| !*open) => {}
    }
}

/// Passes on what the client sends, or drops it while `swallow` is on; until either side closes.
async fn client_to_server(
    from_client: &mut tokio::net::tcp::OwnedReadHalf,
    to_server: &mut tokio::net::tcp::OwnedWriteHalf,
    swallow: &Swallow,
) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let read = match from_client.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if swallow.on.load(Ordering::SeqCst) {
            let mut swallowed = swallow.swallowed.lock().expect("swallowed bytes");
            swallowed.extend_from_slice(&buffer[..read]);
            continue;
        }
        if to_server.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
