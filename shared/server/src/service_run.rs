//! What every service's `run` shares: its background tasks in one named [`Tasks`] set, its outbox
//! relayed to the bus, its gRPC API served (with health, reflection, trace context and metrics:
//! [`serve_grpc`](crate::serve_grpc)), and one shutdown that stops them all. A service's own
//! `run` adds only what is its own: consumers, sweepers, keys to open before it serves.

use std::future::Future;

use latchkey_events::{EventBus, Outbox};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{Dependencies, MeshAuth, MeshTls, ServerError, Tasks, readiness};

/// A service while it runs. Ends with [`serve`](Self::serve), or [`stop`](Self::stop) when it
/// stops before serving.
#[derive(Debug)]
pub struct ServiceRun {
    tasks: Tasks,
    dependencies: Dependencies,
    tls: Option<std::sync::Arc<MeshTls>>,
}

impl ServiceRun {
    /// Starts the run of `service` (its name, as in logs), known in the mesh by `mesh`: it serves
    /// over mutual TLS when `mesh` has TLS, re-reading the files when they change (task
    /// `mesh-tls-reload`). Everything it starts stops when `shutdown` is cancelled, and a run that
    /// ends cancels `shutdown` too.
    pub fn start(service: &'static str, mesh: &MeshAuth, shutdown: CancellationToken) -> Self {
        let tasks = Tasks::with_shutdown(service, shutdown);
        let tls = mesh.tls().cloned();
        if let Some(tls) = &tls {
            let stopped = tasks.shutdown_token().clone();
            tasks.spawn("mesh-tls-reload", tls.clone().watch(stopped));
        }
        Self {
            tasks,
            dependencies: Dependencies::default(),
            tls,
        }
    }

    /// Reports the service SERVING only while `db` answers and `bus` is connected (probed every
    /// second once it serves).
    pub fn depends_on(mut self, db: &latchkey_storage::Db, bus: &EventBus) -> Self {
        self.dependencies = Dependencies::new(db, bus);
        self
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

    /// Serves `routes` on `listener` until shutdown, then stops the run's tasks and waits for them
    /// ([`Tasks::shutdown`]). Health reports `grpc_services` SERVING while the run's dependencies
    /// are reachable ([`depends_on`](Self::depends_on)); at shutdown it reports NOT_SERVING and
    /// keeps serving for the drain period ([`set_shutdown_drain`](crate::set_shutdown_drain))
    /// before it stops taking calls and finishes those in flight.
    pub async fn serve(
        self,
        listener: TcpListener,
        routes: tonic::service::Routes,
        grpc_services: &[&str],
    ) -> Result<(), ServerError> {
        let (reporter, health_service) = tonic_health::server::health_reporter();
        let names: Vec<String> = grpc_services.iter().map(|name| (*name).to_owned()).collect();
        let token = self.shutdown_token().clone();
        self.tasks.spawn(
            "readiness",
            readiness::watch(
                self.tasks.service(),
                reporter.clone(),
                names.clone(),
                self.dependencies.clone(),
                token.clone(),
            ),
        );
        let stopped = async move {
            token.cancelled().await;
            readiness::report(&reporter, &names, tonic_health::ServingStatus::NotServing).await;
            crate::drain_before_stopping().await;
        };
        let served = crate::serve_grpc_with_health(listener, self.tls.clone(), routes, health_service, stopped).await;
        self.stop().await;
        served
    }

    /// Stops the run's tasks and waits for them: for a run that ends without serving (stopped
    /// while it waited for a peer, or failed before it served).
    pub async fn stop(self) {
        self.tasks.shutdown().await;
    }
}
