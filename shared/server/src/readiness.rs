//! Readiness that means it: a service answers the gRPC health check SERVING only while it can do
//! its work, that is while its database answers and its bus is connected, and turns NOT_SERVING by
//! itself when either goes (and SERVING again when it comes back). At shutdown it turns NOT_SERVING
//! first and keeps serving for the drain period, so load balancers stop sending before it stops.

use std::{
    collections::BTreeMap,
    sync::{Mutex, OnceLock, PoisonError},
    time::Duration,
};

use latchkey_events::EventBus;
use latchkey_storage::Db;
use tokio_util::sync::CancellationToken;
use tonic_health::{ServingStatus, server::HealthReporter};

/// How often the dependencies are probed.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// How long the database has to answer a probe.
const PING_LIMIT: Duration = Duration::from_secs(2);

/// The service's database pool, by `service` and `state` (`idle`, `in_use`).
pub const DB_POOL_CONNECTIONS: &str = "latchkey_db_pool_connections";
/// 1 while the service's NATS client is connected (always 1 on the in-process bus), by `service`.
pub const BUS_CONNECTED: &str = "latchkey_bus_connected";
/// 1 while the service answers SERVING, by `service`.
pub const READY: &str = "latchkey_ready";

static SHUTDOWN_DRAIN: OnceLock<Duration> = OnceLock::new();

/// What each gRPC service of this process last reported, by its gRPC name, for [`serving`].
static REPORTED: Mutex<BTreeMap<String, bool>> = Mutex::new(BTreeMap::new());

/// Whether this process serves, for probes that cannot ask the gRPC health service (a kubelet
/// cannot present a mesh certificate): true while every gRPC service it runs last reported
/// SERVING; false while one reports NOT_SERVING, and before any has reported (still starting).
/// `latchkey serve` answers `/readyz` on `server.metrics_listen` with it; a process running
/// several services (`latchkey dev`, tests) answers for all of them together.
pub fn serving() -> bool {
    let reported = REPORTED.lock().unwrap_or_else(PoisonError::into_inner);
    !reported.is_empty() && reported.values().all(|serving| *serving)
}

/// Sets how long every service of this process keeps serving, NOT_SERVING, once told to stop
/// (`server.shutdown_drain_secs` of `latchkey serve`). Unset, there is no drain: `latchkey dev` and
/// tests stop at once. The first call wins.
pub fn set_shutdown_drain(drain: Duration) {
    let _ = SHUTDOWN_DRAIN.set(drain);
}

/// The drain period [`set_shutdown_drain`] set, else none.
pub fn shutdown_drain() -> Duration {
    SHUTDOWN_DRAIN.get().copied().unwrap_or_default()
}

/// Waits out the drain period ([`set_shutdown_drain`]) of a process told to stop, after it turned
/// not ready: the gRPC services and the gateway alike.
pub async fn drain_before_stopping() {
    let drain = shutdown_drain();
    if !drain.is_zero() {
        tracing::info!(
            drain_ms = drain.as_millis() as u64,
            "not ready; draining before stopping"
        );
        tokio::time::sleep(drain).await;
    }
}

/// What a service needs to be ready.
#[derive(Clone, Debug, Default)]
pub struct Dependencies {
    db: Option<Db>,
    bus: Option<EventBus>,
}

impl Dependencies {
    pub fn new(db: &Db, bus: &EventBus) -> Self {
        Self {
            db: Some(db.clone()),
            bus: Some(bus.clone()),
        }
    }

    /// Sets the operators' gauges of the database pool and the bus connection, labelled with
    /// `service` (`latchkey dev` runs every service in one process).
    fn sample(&self, service: &'static str) {
        if let Some(db) = &self.db {
            let (size, idle) = (db.pool().size(), db.pool().num_idle());
            metrics::gauge!(DB_POOL_CONNECTIONS, "service" => service, "state" => "idle").set(idle as f64);
            metrics::gauge!(DB_POOL_CONNECTIONS, "service" => service, "state" => "in_use")
                .set(size.saturating_sub(idle as u32) as f64);
        }
        if let Some(bus) = &self.bus {
            metrics::gauge!(BUS_CONNECTED, "service" => service).set(if bus.is_connected() { 1.0 } else { 0.0 });
        }
    }

    /// What is unreachable now (empty when ready): "database", "bus".
    pub async fn unreachable(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if let Some(db) = &self.db
            && !db.ping(PING_LIMIT).await
        {
            missing.push("database");
        }
        if let Some(bus) = &self.bus
            && !bus.is_connected()
        {
            missing.push("bus");
        }
        missing
    }
}

/// Sets every name in `names` (and the server's own "") to `status`, and records it for [`serving`].
pub(crate) async fn report(reporter: &HealthReporter, names: &[String], status: ServingStatus) {
    for name in names {
        reporter.set_service_status(name, status).await;
    }
    reporter.set_service_status("", status).await;
    let mut reported = REPORTED.lock().unwrap_or_else(PoisonError::into_inner);
    for name in names {
        reported.insert(name.clone(), status == ServingStatus::Serving);
    }
}

/// Probes `dependencies` every second until `stop` is cancelled, reporting SERVING or
/// NOT_SERVING for `names`, and logging each change.
pub(crate) async fn watch(
    service: &'static str,
    reporter: HealthReporter,
    names: Vec<String>,
    dependencies: Dependencies,
    stop: CancellationToken,
) {
    let mut was_ready = true;
    loop {
        dependencies.sample(service);
        let unreachable = dependencies.unreachable().await;
        let ready = unreachable.is_empty();
        if ready != was_ready {
            if ready {
                tracing::info!(service, "dependencies reachable again: serving");
            } else {
                tracing::warn!(service, unreachable = ?unreachable, "a dependency is unreachable: not serving");
            }
            was_ready = ready;
        }
        // Checked after the probe, and NOT_SERVING written on the way out (after any SERVING this
        // loop wrote): a shutdown must end NOT_SERVING whichever task writes last.
        if stop.is_cancelled() {
            report(&reporter, &names, ServingStatus::NotServing).await;
            return;
        }
        metrics::gauge!(READY, "service" => service).set(if ready { 1.0 } else { 0.0 });
        let status = if ready {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        report(&reporter, &names, status).await;
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(PROBE_INTERVAL) => {}
        }
    }
}
