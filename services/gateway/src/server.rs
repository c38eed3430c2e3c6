//! The HTTP server under the router: HTTP/1.1 connections with a header-read timeout, and a
//! graceful shutdown that lets in-flight requests finish.
//!
//! Not `axum::serve`: it gives hyper no timer, so a client could hold a connection open forever by
//! sending its request line and headers a byte at a time (slowloris), and it offers no way to set
//! one. hyper's own HTTP/1 builder (hyper 1.x `http1::Builder::header_read_timeout`, which needs
//! `timer`) closes a connection whose request head has not fully arrived in time; the clock starts
//! when the connection waits for a head, so it also bounds an idle keep-alive connection.
//!
//! HTTP/1.1 only: hyper-util's auto builder (HTTP/1 or prior-knowledge HTTP/2, which `axum::serve`
//! used) first reads the connection preface with no timeout at all, so a client sending nothing
//! would again hold the connection. HTTP/2 and TLS end at the load balancer in front of the gateway.

use std::{future::Future, pin::pin, time::Duration};

use axum::Router;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::net::TcpListener;

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and waits for the
/// open connections to finish their requests.
pub(crate) async fn serve(
    mut listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
    let connections = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let stream = tokio::select! {
            // axum's accept: retries the errors a listener survives (e.g. too many open files).
            (stream, _) = axum::serve::Listener::accept(&mut listener) => stream,
            () = &mut shutdown => break,
        };
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router.clone()));
        let connection = connections.watch(connection);
        latchkey_server::spawn_connection(async move {
            // A client that went away or was too slow with its headers: nothing to do but close.
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection closed with an error");
            }
        });
    }
    drop(listener);
    connections.shutdown().await;
}
