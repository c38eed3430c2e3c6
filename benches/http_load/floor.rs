//! The floor: a bare axum handler answering the same bytes Latchkey answered, in its own process
//! (this very binary, re-executed) on a 2-worker runtime, so it is measured like-for-like. It
//! answers every method and path the same way, reading (and dropping) any request body. The same
//! server is the provider the `proxy` scenario proxies to (its upstream).

use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::children::{self, ChildGuard};

/// Set to the port to serve on: the bench binary then runs as the floor server.
pub const PORT_ENV: &str = "LATCHKEY_BENCH_FLOOR";
/// Path of the file holding the response body.
const BODY_ENV: &str = "LATCHKEY_BENCH_FLOOR_BODY";
/// The response's `Content-Type`.
const CONTENT_TYPE_ENV: &str = "LATCHKEY_BENCH_FLOOR_CONTENT_TYPE";
/// What the start-up check asks for (any path is answered).
const READY_PATH: &str = "/ready";

/// A running floor server; killed when dropped.
pub struct Floor {
    /// Where it listens.
    pub port: u16,
    _process: ChildGuard,
}

/// Starts the floor as a child process answering `body` with `content_type`.
pub async fn spawn(body: &[u8], content_type: &str, work_dir: &Path) -> anyhow::Result<Floor> {
    spawn_named("floor", body, content_type, work_dir).await
}

/// [`spawn`] under another `name` (its messages, its body's file in `work_dir`), for a server
/// that runs beside another floor.
pub async fn spawn_named(
    name: &'static str,
    body: &[u8],
    content_type: &str,
    work_dir: &Path,
) -> anyhow::Result<Floor> {
    let body_path = work_dir.join(format!("{name}-body"));
    std::fs::write(&body_path, body).with_context(|| format!("writing the {name}'s body"))?;
    let port = children::free_loopback_port()?;
    let exe = std::env::current_exe().context("locating the bench binary")?;
    let child = Command::new(exe)
        .env(PORT_ENV, port.to_string())
        .env(BODY_ENV, &body_path)
        .env(CONTENT_TYPE_ENV, content_type)
        // The floor exits when this pipe closes, i.e. when the benchmark is gone, however it died.
        .stdin(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting the {name} process"))?;
    let mut process = ChildGuard::new(name, child);
    let url = format!("http://{}{READY_PATH}", children::loopback(port));
    children::wait_until_ok(&children::setup_client()?, &url, &mut process, Duration::from_secs(20)).await?;
    Ok(Floor {
        port,
        _process: process,
    })
}

struct Reply {
    body: Bytes,
    content_type: HeaderValue,
}

async fn answer(State(reply): State<Arc<Reply>>, _body: Bytes) -> Response {
    (
        StatusCode::OK,
        [(CONTENT_TYPE, reply.content_type.clone())],
        reply.body.clone(),
    )
        .into_response()
}

/// Entry point of the floor process: serves until its stdin closes.
pub fn serve_from_env(port: &str) -> ExitCode {
    match serve(port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("floor: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(port: &str) -> anyhow::Result<()> {
    let port: u16 = port
        .parse()
        .with_context(|| format!("{PORT_ENV}={port:?} is not a port"))?;
    let body_path = std::env::var(BODY_ENV).with_context(|| format!("{BODY_ENV} is not set"))?;
    let body = std::fs::read(&body_path).with_context(|| format!("reading {body_path}"))?;
    let content_type = std::env::var(CONTENT_TYPE_ENV).unwrap_or_else(|_| "application/json".to_owned());
    let reply = Arc::new(Reply {
        body: Bytes::from(body),
        content_type: HeaderValue::try_from(content_type)?,
    });
    let router = Router::new().fallback(answer).with_state(reply);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(children::loopback(port)).await?;
        let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
        // A plain thread, not the runtime's blocking pool: a read parked on stdin must not keep
        // the runtime from shutting down.
        std::thread::spawn(move || {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            let _ = closed_tx.send(());
        });
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = closed_rx.await;
            })
            .await?;
        Ok(())
    })
}
