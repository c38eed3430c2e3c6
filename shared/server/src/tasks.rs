//! Every background task of a process is started here, into a named [`Tasks`] set: the task runs in
//! a span named after it and its service (so its logs and traces say whose they are, and continue
//! the trace it was started from), it ends when the set's shutdown token is cancelled, and
//! [`Tasks::shutdown`] waits for it with a bounded grace, naming any task that panicked or
//! outlived the grace. A bare `tokio::spawn` is refused by clippy (`clippy.toml`): it makes an
//! anonymous task that nothing stops or waits for.
//!
//! The one exception is [`spawn_connection`], for a server's per-connection tasks, which another
//! owner (hyper's graceful shutdown) already tracks and drains.

#![allow(clippy::disallowed_methods)] // The one module allowed to call `tokio::spawn`.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use tokio::task::{Id, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// How long [`Tasks::shutdown`] waits for the tasks once they were told to stop, unless set with
/// [`Tasks::with_grace`]: within the usual 10 s between an orchestrator's SIGTERM and its SIGKILL.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(8);

/// A named set of background tasks that stop together. Cheap to clone: clones share the set.
///
/// Dropping the set neither stops nor detaches anything the token does not: like a `JoinHandle`,
/// a task runs until its future ends or the token is cancelled. Owners that must stop their tasks
/// when dropped hold [`CancellationToken::drop_guard`] of the token.
#[derive(Clone, Debug)]
pub struct Tasks {
    inner: Arc<Inner>,
    grace: Duration,
}

#[derive(Debug)]
struct Inner {
    service: &'static str,
    shutdown: CancellationToken,
    running: Mutex<Running>,
}

#[derive(Debug, Default)]
struct Running {
    set: JoinSet<()>,
    names: HashMap<Id, &'static str>,
}

impl Tasks {
    /// An empty set for `service` with a shutdown token of its own.
    pub fn new(service: &'static str) -> Self {
        Self::with_shutdown(service, CancellationToken::new())
    }

    /// An empty set for `service` that stops when `shutdown` is cancelled (and cancels it on
    /// [`shutdown`](Self::shutdown)).
    pub fn with_shutdown(service: &'static str, shutdown: CancellationToken) -> Self {
        Self {
            inner: Arc::new(Inner {
                service,
                shutdown,
                running: Mutex::default(),
            }),
            grace: DEFAULT_GRACE,
        }
    }

    /// The same set, whose [`join`](Self::join) through this handle (and its clones) waits
    /// `grace` instead of [`DEFAULT_GRACE`].
    #[must_use]
    pub fn with_grace(self, grace: Duration) -> Self {
        Self { grace, ..self }
    }

    /// The service these tasks belong to.
    pub fn service(&self) -> &'static str {
        self.inner.service
    }

    /// The token the tasks watch: a task's future stops when it is cancelled.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// True once the set was told to stop.
    pub fn is_stopping(&self) -> bool {
        self.inner.shutdown.is_cancelled()
    }

    /// Runs `future` as the task `name`, in a span `task` (fields `task`, `service`) inside the
    /// current one (in logs; not an exported trace span: see `latchkey_telemetry::TASK_SPAN_TARGET`). The future must end by itself once [`shutdown_token`](Self::shutdown_token) is
    /// cancelled (most take the token, or `token.cancelled_owned()`, as an argument), so it can
    /// finish what it holds; one that cannot see the token goes through
    /// [`spawn_until_shutdown`](Self::spawn_until_shutdown).
    pub fn spawn<F>(&self, name: &'static str, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // Left out of exported traces (`latchkey_telemetry::exported_as_trace`): it lasts as long as
        // the task. Its fields still mark every log line of the task.
        let span = tracing::info_span!(
            target: latchkey_telemetry::TASK_SPAN_TARGET,
            "task",
            task = name,
            service = self.inner.service
        );
        let mut running = self.inner.running.lock().unwrap_or_else(PoisonError::into_inner);
        // Tasks that ended are forgotten as new ones start, so a long-lived set stays small.
        while let Some(ended) = running.set.try_join_next_with_id() {
            let id = match &ended {
                Ok((id, ())) => *id,
                Err(error) => error.id(),
            };
            let name = running.names.remove(&id).unwrap_or("?");
            report_ended(self.inner.service, name, ended.err());
        }
        let handle = running.set.spawn(future.instrument(span));
        running.names.insert(handle.id(), name);
    }

    /// Runs `future` as the task `name` until it ends or the set stops, whichever comes first:
    /// for work that runs until stopped from outside (a subscription, a periodic sweep) and holds
    /// nothing that needs finishing.
    pub fn spawn_until_shutdown<F>(&self, name: &'static str, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let shutdown = self.inner.shutdown.clone();
        self.spawn(name, async move {
            tokio::select! {
                () = future => {}
                () = shutdown.cancelled() => {}
            }
        });
    }

    /// Tells every task to stop.
    pub fn stop(&self) {
        self.inner.shutdown.cancel();
    }

    /// Tells every task to stop, then waits for them: see [`join`](Self::join).
    pub async fn shutdown(&self) {
        self.stop();
        self.join().await;
    }

    /// Waits until every task ended, or, once the set was told to stop, for at most the grace:
    /// a task still running then is logged by name and aborted. A task that panicked is logged by
    /// name too; neither stops the others. Waits for the tasks started before it was called.
    pub async fn join(&self) {
        let Running { mut set, mut names } =
            std::mem::take(&mut *self.inner.running.lock().unwrap_or_else(PoisonError::into_inner));
        let service = self.inner.service;
        let mut report = |ended: Option<Result<(Id, ()), tokio::task::JoinError>>| {
            let Some(ended) = ended else { return false };
            let id = match &ended {
                Ok((id, ())) => *id,
                Err(error) => error.id(),
            };
            report_ended(service, names.remove(&id).unwrap_or("?"), ended.err());
            true
        };
        loop {
            tokio::select! {
                ended = set.join_next_with_id() => if !report(ended) { return },
                () = self.inner.shutdown.cancelled() => break,
            }
        }
        let deadline = tokio::time::Instant::now() + self.grace;
        while let Ok(ended) = tokio::time::timeout_at(deadline, set.join_next_with_id()).await {
            if !report(ended) {
                return;
            }
        }
        for name in names.values() {
            tracing::error!(service, task = name, grace = ?self.grace, "task outlived the shutdown grace; aborting it");
        }
        set.shutdown().await;
    }
}

impl Drop for Inner {
    /// The last handle gone: the tasks run on, as a dropped `JoinHandle`'s would (a `JoinSet`
    /// dropped with them would abort them).
    fn drop(&mut self) {
        self.running
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .set
            .detach_all();
    }
}

fn report_ended(service: &'static str, name: &'static str, failure: Option<tokio::task::JoinError>) {
    match failure {
        Some(error) if error.is_panic() => tracing::error!(service, task = name, "task panicked"),
        // Aborted: only `join` aborts, and it said why.
        Some(_) | None => {}
    }
}

/// Runs one connection of a server (`future`) in the current span, outside any [`Tasks`] set: the
/// server's graceful shutdown (hyper's `GracefulShutdown`) already tracks and drains its
/// connections, and a set would keep a handle per connection ever accepted.
pub fn spawn_connection<F>(future: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(future.in_current_span());
}

#[cfg(test)]
mod tests;
