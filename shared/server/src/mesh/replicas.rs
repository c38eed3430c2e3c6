//! The replicas of one mesh service, as one channel that survives a replica going away.
//!
//! tonic's lazy channel reports a failed connection attempt as the error of the *next* call, and
//! its balanced channel keeps a replica that refuses connections in rotation (such a replica looks
//! idle, so it is picked often). Either way a client would see a 503 for a replica that is down
//! while another one answers, or for a service that has just come back. A call that failed to
//! connect never reached the server, so sending it again is always safe: [`Replicas`] sends it to
//! the next replica, leaves the one that refused out for [`REFUSED_FOR`], and gives the error back
//! only when every replica refused (each one tried afresh once more, since the first refusal may
//! be a stale one from before the service came up).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use tonic::{body::Body, transport::Channel};
use tower::{Service, ServiceExt};

use super::in_process;

/// How long a replica that refused a connection is left out while others answer.
pub const REFUSED_FOR: Duration = Duration::from_secs(1);

/// One service's replicas: calls go round the ones not known to be down.
#[derive(Clone)]
pub struct Replicas {
    inner: Arc<Inner>,
}

/// One replica: its channel, and the socket address it was named by, when that is an IP address
/// and port (a server of this process there is called without the network: `in_process`).
pub struct Replica {
    channel: Channel,
    address: Option<SocketAddr>,
}

impl Replica {
    pub fn new(channel: Channel, address: Option<SocketAddr>) -> Self {
        Self { channel, address }
    }
}

struct Inner {
    replicas: Vec<Replica>,
    /// Per replica, when it may be tried again (milliseconds since `epoch`; 0: now).
    refused_until: Vec<AtomicU64>,
    next: AtomicUsize,
    epoch: Instant,
}

impl std::fmt::Debug for Replicas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replicas")
            .field("count", &self.inner.replicas.len())
            .finish()
    }
}

impl Replicas {
    /// `replicas` must not be empty (the caller parsed at least one address).
    pub fn new(replicas: Vec<Replica>) -> Self {
        assert!(!replicas.is_empty(), "a mesh service has at least one address");
        let refused_until = replicas.iter().map(|_| AtomicU64::new(0)).collect();
        Self {
            inner: Arc::new(Inner {
                replicas,
                refused_until,
                next: AtomicUsize::new(0),
                epoch: Instant::now(),
            }),
        }
    }
}

impl Inner {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The order to try the replicas in for one call: round robin, those that refused lately last.
    fn order(&self) -> Vec<usize> {
        let count = self.replicas.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let now = self.now_ms();
        let (mut up, down): (Vec<usize>, Vec<usize>) = (0..count)
            .map(|offset| (start + offset) % count)
            .partition(|&replica| self.refused_until[replica].load(Ordering::Relaxed) <= now);
        up.extend(down);
        up
    }

    fn refused(&self, replica: usize) {
        let until = self.now_ms() + u64::try_from(REFUSED_FOR.as_millis()).unwrap_or(1000);
        self.refused_until[replica].store(until, Ordering::Relaxed);
    }
}

/// True when `error` says the call never reached a server (so it may be sent again).
fn never_connected(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<tonic::ConnectError>() {
            return true;
        }
        cause = error.source();
    }
    false
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Service<http::Request<Body>> for Replicas {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Each replica's channel is made ready inside the call, where the replica is chosen.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move {
            // Requests are one encoded message (no method streams its request), so keeping the
            // bytes to send again costs one copy of a small buffer.
            let (parts, body) = request.into_parts();
            let bytes = body.collect().await?.to_bytes();
            let order = inner.order();
            // Every replica once, then the first again: its refusal may be stale.
            let attempts = order.iter().chain(order.first()).copied();
            let mut last_error: Option<BoxError> = None;
            for replica in attempts {
                let attempt = http::Request::from_parts(parts.clone(), Body::new(Full::new(bytes.clone())));
                if let Some(server) = inner.replicas[replica].address.and_then(in_process::server_at) {
                    return in_process::call(server, attempt).await;
                }
                let mut channel = inner.replicas[replica].channel.clone();
                let outcome = match channel.ready().await {
                    Ok(ready) => ready.call(attempt).await,
                    Err(error) => Err(error),
                };
                match outcome {
                    Ok(response) => return Ok(response),
                    Err(error) if never_connected(&error) => {
                        inner.refused(replica);
                        last_error = Some(error.into());
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            Err(last_error.unwrap_or_else(|| "no replica to call".into()))
        })
    }
}
