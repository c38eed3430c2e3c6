//! `latchkey serve <service>`: one service of the mesh, against PostgreSQL and NATS JetStream.

use std::{
    net::{Ipv4Addr, SocketAddr},
    time::Duration,
};

use anyhow::{Context, bail};
use latchkey_events::{EventBus, NatsConnection};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use crate::context::mesh_urls;
use crate::{
    cli::Service,
    context::{DatabasePlan, MeshUrls, ServiceContext, ServiceSettings},
    mesh::{service_tasks, start_service},
    settings::Settings,
};

/// The gateway's port when neither `--listen` nor `server.listen` names one.
const DEFAULT_GATEWAY_PORT: u16 = 8080;

/// Runs `service` until `shutdown` is cancelled.
pub async fn run(
    settings: Settings,
    service: Service,
    listen: Option<SocketAddr>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    if settings.mesh.service_token.len() < 16 {
        bail!(
            "mesh.service_token must be set to a secret of at least 16 characters \
             (LATCHKEY__MESH__SERVICE_TOKEN_FILE naming a file that holds it, or LATCHKEY__MESH__SERVICE_TOKEN)"
        );
    }
    let needs_database = matches!(
        service,
        Service::AgentToken | Service::Audit | Service::Policy | Service::Vault | Service::Webhook
    );
    if service == Service::Vault && settings.vault.root_key_source().is_none() {
        bail!("the vault needs vault.root_key_file or vault.root_keys (LATCHKEY__VAULT__ROOT_KEY_FILE)");
    }
    if needs_database && settings.database.url.is_empty() {
        bail!(
            "{} needs database.url (LATCHKEY__DATABASE__URL_FILE naming a file that holds it, or LATCHKEY__DATABASE__URL)",
            service.name()
        );
    }
    latchkey_server::set_shutdown_drain(Duration::from_secs(settings.server.shutdown_drain_secs));
    let urls = mesh_urls(&settings);
    let address = listen_address(&settings, service, listen, &urls)?;
    let metrics_address = match settings.server.metrics_listen.as_str() {
        "" => None,
        address => Some(
            address
                .parse::<SocketAddr>()
                .context("server.metrics_listen is not HOST:PORT")?,
        ),
    };
    let mut bus = connect_bus(&settings, &shutdown).await?.with_config(settings.events);
    if !settings.database.url.is_empty() && service != Service::Gateway {
        // The service's consumers dead-letter into its own database (docs/events.md).
        // Dead letters are written rarely, one at a time: a pool of two is plenty.
        let db = latchkey_storage::Db::connect_with_pool(&settings.database.url, 2)
            .await
            .context("cannot open the database for dead letters")?;
        bus = bus.with_dead_letters(db).await?;
    }
    let mut service_settings = ServiceSettings {
        // The gateway serves it itself, and then no longer on its public port.
        gateway_metrics_listen: metrics_address.filter(|_| service == Service::Gateway),
        ..ServiceSettings::from_settings(&settings)?
    };
    service_settings.resolve_public_url(SocketAddr::from(([127, 0, 0, 1], DEFAULT_GATEWAY_PORT)))?;
    let context = ServiceContext {
        database: DatabasePlan::Url {
            url: settings.database.url.clone(),
            max_connections: settings.database.max_connections,
        },
        bus,
        mesh_auth: settings.mesh.auth(),
        urls,
        vault_root_keys: settings.vault.root_key_source(),
        settings: service_settings,
    };
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    tracing::info!(service = service.name(), %address, "serving");
    let tasks = service_tasks(shutdown.clone());
    if let Some(address) = metrics_address.filter(|_| service != Service::Gateway) {
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        tasks.spawn("metrics-endpoint", serve_metrics(listener, shutdown));
    }
    start_service(service, listener, &context, &tasks).await?;
    tasks.join().await;
    Ok(())
}

/// `/metrics` and `/healthz` over HTTP for a gRPC service, for Prometheus and plain HTTP probes.
async fn serve_metrics(listener: TcpListener, shutdown: CancellationToken) {
    let served = axum::serve(listener, latchkey_gateway::metrics_router())
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    if let Err(error) = served {
        tracing::error!(%error, "the metrics endpoint stopped");
    }
}

/// `--listen`, else `server.listen`, else loopback (127.0.0.1) on the gateway's 8080 or the port of
/// the service's own mesh URL, so one settings file serves every process of the mesh and none is
/// reachable from other machines unless its settings say so.
pub fn listen_address(
    settings: &Settings,
    service: Service,
    listen: Option<SocketAddr>,
    urls: &MeshUrls,
) -> anyhow::Result<SocketAddr> {
    if let Some(address) = listen {
        return Ok(address);
    }
    if !settings.server.listen.is_empty() {
        return settings.server.listen.parse().context("server.listen is not HOST:PORT");
    }
    let port = match service {
        Service::Gateway => DEFAULT_GATEWAY_PORT,
        service => {
            let url = urls.of(service)?;
            url.rsplit(':')
                .next()
                .and_then(|port| port.trim_end_matches('/').parse().ok())
                .with_context(|| format!("no port in {url}"))?
        }
    };
    Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}

/// How often the NATS client pings the server to find out whether the connection still works.
const NATS_PING_INTERVAL: Duration = Duration::from_secs(10);

/// Connects to NATS and ensures the event stream, retrying until NATS answers: in a mesh that
/// starts all at once the broker may come up after the service.
async fn connect_bus(settings: &Settings, shutdown: &CancellationToken) -> anyhow::Result<EventBus> {
    // Made by the events crate, which follows the connection's events: live subscriptions must know
    // when the client was disconnected, as it resubscribes silently. A connection that dies without
    // a word (no FIN, no RST) is noticed after three unanswered pings: with pings every 10 s rather
    // than the library's 60 s, within half a minute instead of three, under the caches' TTLs.
    let options = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .ping_interval(NATS_PING_INTERVAL);
    // A cluster's seed servers, comma-separated: the client tries each, and learns the rest of the
    // cluster from the one it reaches.
    let servers: Vec<&str> = settings
        .nats
        .url
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let connection = NatsConnection::connect(servers, options)
        .await
        .with_context(|| format!("cannot reach NATS at {}", settings.nats.url))?;
    let mut delay = Duration::from_millis(200);
    let stream = settings.nats.stream();
    loop {
        match EventBus::nats_with(connection.clone(), &settings.nats.prefix, stream).await {
            Ok(bus) => return Ok(bus),
            // A server refusing the settings (e.g. replicas > 1 without a cluster) is retried as the
            // server not being ready is: a cluster may still be forming. The warning says which.
            Err(error) => tracing::warn!(%error, "event stream not ready; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.cancelled() => bail!("stopped before NATS was reachable"),
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests;
