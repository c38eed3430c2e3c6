//! Calls to a service that runs in the caller's own process, made without the network.
//!
//! `latchkey dev` and the in-process meshes of the tests run every service in one process, each
//! serving gRPC on its own loopback port, so a mesh call used to cross loopback TCP and HTTP/2
//! twice (a hop a request, two for a token issue or a fetch): framing, header compression, socket
//! writes and the wake-ups of the threads on both ends. A server registers its routes under the
//! address it listens on ([`register`]); a mesh channel whose replica has that address hands the
//! call to those routes directly ([`server_at`], [`call`]).
//!
//! Only the transport differs. The request is the one the network would have carried (the same
//! metadata: service token, deadline, trace context; the same encoded message), handled by the
//! same routes behind the same metrics layer and `grpc.server` span, under the deadline the
//! request names, whose expiry the caller sees as tonic's client reports it. The handler runs in
//! the caller's task and is dropped with it, as HTTP/2 drops a handler whose caller reset its
//! stream. A server that stops takes its registration with it; calls then go to the network and
//! fail as they would.

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    sync::{
        LazyLock, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tonic::body::Body;
use tower::{ServiceExt, util::BoxCloneSyncService};
use tracing::Instrument;

/// A server's routes, with the layers the network server puts around them.
pub(crate) type LocalServer = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, Infallible>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Entry {
    /// Which registration made it: a server that stops removes its own entry, never a successor's.
    generation: u64,
    server: LocalServer,
}

static SERVERS: LazyLock<RwLock<HashMap<SocketAddr, Entry>>> = LazyLock::new(|| RwLock::new(HashMap::new()));
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Keeps `server` reachable in-process at `address` until dropped.
#[must_use = "the server is reachable in-process only while this is held"]
pub(crate) struct Registration {
    address: SocketAddr,
    generation: u64,
}

/// Makes `server` reachable in-process at `address`, the address it serves on over the network.
pub(crate) fn register(address: SocketAddr, server: LocalServer) -> Registration {
    let generation = GENERATION.fetch_add(1, Ordering::Relaxed);
    SERVERS
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(address, Entry { generation, server });
    Registration { address, generation }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut servers = SERVERS.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if servers
            .get(&self.address)
            .is_some_and(|entry| entry.generation == self.generation)
        {
            servers.remove(&self.address);
        }
    }
}

/// The server this process runs at `address`, if it runs one there.
pub(crate) fn server_at(address: SocketAddr) -> Option<LocalServer> {
    let servers = SERVERS.read().unwrap_or_else(|poisoned| poisoned.into_inner());
    servers.get(&address).map(|entry| entry.server.clone())
}

/// Hands `request` to `server` and waits for the answer, for as long as the request's
/// `grpc-timeout` allows. The handler runs in the caller's task: a caller that goes away drops it,
/// as a network call's handler is dropped when its caller resets the HTTP/2 stream.
pub(crate) async fn call(server: LocalServer, request: http::Request<Body>) -> Result<http::Response<Body>, BoxError> {
    // A handler that answers without waiting (a read on the calling thread) would otherwise let a
    // caller calling in a loop keep its thread for ever, where a socket would have made it wait:
    // each call spends a unit of the task's budget, as tokio's own resources do, and a task that
    // spent it yields.
    tokio::task::consume_budget().await;
    let deadline = grpc_timeout(request.headers());
    let span = crate::call_span(request.uri().path(), request.headers());
    let answer = server.oneshot(request).instrument(span);
    let answered = match deadline {
        // What tonic's channel answers when a call's deadline passes (a CANCELLED status).
        Some(deadline) => tokio::time::timeout(deadline, answer)
            .await
            .map_err(|_| BoxError::from(tonic::TimeoutExpired(())))?,
        None => answer.await,
    };
    match answered {
        Ok(response) => Ok(response),
        Err(never) => match never {},
    }
}

/// The deadline a request names in `grpc-timeout` (gRPC over HTTP/2: up to 8 digits and a unit).
fn grpc_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (amount, unit) = value.split_at_checked(value.len().checked_sub(1)?)?;
    if amount.is_empty() || amount.len() > 8 {
        return None;
    }
    let amount: u64 = amount.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout_header(value: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-timeout", value.parse().expect("header value"));
        headers
    }

    #[test]
    fn a_deadline_is_read_in_every_unit_grpc_names() {
        for (value, expected) in [
            ("2H", Duration::from_secs(7200)),
            ("3M", Duration::from_secs(180)),
            ("10S", Duration::from_secs(10)),
            ("25000m", Duration::from_secs(25)),
            ("10000000u", Duration::from_secs(10)),
            ("99999999n", Duration::from_nanos(99_999_999)),
        ] {
            assert_eq!(grpc_timeout(&timeout_header(value)), Some(expected), "{value}");
        }
    }

    #[test]
    fn a_malformed_deadline_is_no_deadline() {
        for value in ["", "S", "10", "10s", "123456789S", "-1S", "1.5S"] {
            assert_eq!(grpc_timeout(&timeout_header(value)), None, "{value:?}");
        }
        assert_eq!(grpc_timeout(&http::HeaderMap::new()), None);
    }
}
