//! What every service's `run` shares: its background tasks in one named [`Tasks`] set, its outbox
//! relayed to the bus, its gRPC API served (with health, reflection, trace context and metrics:
//! [`serve_grpc`](crate::serve_grpc)), and one shutdown that stops them all. A service's own
//! `run` adds only what is its own: consumers, sweepers, keys to open before it serves.

use std::future::Future;

use latchkey_events::{EventBus, Outbox};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{ServerError, Tasks};

/// A service while it runs. Ends with [`serve`](Self::serve), or [`stop`](Self::stop) when it
/// stops before serving.
#[derive(Debug)]
pub struct ServiceRun {
    tasks: Tasks,
}

impl ServiceRun {
    /// Starts the run of `service` (its name, as in logs): everything it starts stops when
    /// `shutdown` is cancelled, and a run that ends cancels `shutdown` too.
    pub fn start(service: &'static str, shutdown: CancellationToken) -> Self {
        Self {
            tasks: Tasks::with_shutdown(service, shutdown),
        }
    }

    /// The run's tasks: a service starts its own background work here.
    pub fn tasks(&self) -> &Tasks {
        &self.tasks
    }

    /// The run's shutdown token.
    pub fn shutdown_token(&self) -> &CancellationToken {
        self.tasks.shutdown_token()
    }

    /// Publishes `outbox`'s events to `bus` (task `outbox-relay`) until shutdown.
    pub fn relay_outbox(&self, outbox: Outbox, bus: EventBus) {
        let stopped = self.shutdown_token().clone().cancelled_owned();
        self.tasks
            .spawn("outbox-relay", latchkey_events::run_relay(outbox, bus, stopped));
    }

    /// Runs `attempt` (opening the service's keys from the vault, say) before the service serves,
    /// retried while it fails as `unavailable` says the vault does: the vault may start after this
    /// service ([`retry_while_unavailable`](crate::retry_while_unavailable)). Answers the run once
    /// it succeeded; `None` when stopped first, and its error when it failed; the run is stopped
    /// then.
    pub async fn once_vault_answers<T, E, F, Fut>(
        self,
        what: &'static str,
        unavailable: impl Fn(&E) -> bool,
        attempt: F,
    ) -> Result<Option<Self>, E>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let outcome = crate::retry_while_unavailable(what, self.shutdown_token(), unavailable, attempt).await;
        match outcome {
            Some(Ok(_)) => Ok(Some(self)),
            None => {
                self.stop().await;
                Ok(None)
            }
            Some(Err(error)) => {
                self.stop().await;
                Err(error)
            }
        }
    }

    /// Serves `routes` on `listener` until shutdown (`grpc_services`: the names health reports as
    /// SERVING), then stops the run's tasks and waits for them ([`Tasks::shutdown`]).
    pub async fn serve(
        self,
        listener: TcpListener,
        routes: tonic::service::Routes,
        grpc_services: &[&str],
    ) -> Result<(), ServerError> {
        let stopped = self.shutdown_token().clone().cancelled_owned();
        let served = crate::serve_grpc(listener, routes, grpc_services, stopped).await;
        self.stop().await;
        served
    }

    /// Stops the run's tasks and waits for them: for a run that ends without serving (stopped
    /// while it waited for a peer, or failed before it served).
    pub async fn stop(self) {
        self.tasks.shutdown().await;
    }
}
