//! `latchkey serve <service>`: one service of the mesh, against PostgreSQL and NATS JetStream.

use std::{
    net::{Ipv4Addr, SocketAddr},
    time::Duration,
};

use anyhow::{Context, bail};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use crate::context::mesh_urls;
use crate::{
    cli::Service,
    context::{DatabasePlan, MeshUrls, ServiceContext, ServiceSettings},
    mesh::{service_tasks, start_service},
    settings::Settings,
};

mod nats;

/// The gateway's port when neither `--listen` nor `server.listen` names one.
const DEFAULT_GATEWAY_PORT: u16 = 8080;

/// Runs `service` until `shutdown` is cancelled.
pub async fn run(
    settings: Settings,
    service: Service,
    listen: Option<SocketAddr>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Who this process is in the mesh: its certificate names it (mutual TLS), or, on a plaintext
    // mesh, it knows the shared service token.
    let mesh_auth = settings
        .mesh
        .auth_as(service.name())
        .context("cannot load the mesh's TLS files (mesh.tls_*)")?;
    if mesh_auth.tls().is_none() {
        if !settings.mesh.allow_plaintext {
            bail!(
                "the mesh needs mutual TLS: set mesh.tls_ca_file, tls_cert_file and tls_key_file \
                 (`latchkey mesh-certs --out DIR` makes a development set; docs/security.md), \
                 or mesh.allow_plaintext = true for a plaintext mesh on one trusted machine"
            );
        }
        if settings.mesh.service_token.len() < 16 {
            bail!(
                "mesh.service_token must be set to a secret of at least 16 characters \
                 (LATCHKEY__MESH__SERVICE_TOKEN_FILE naming a file that holds it, or LATCHKEY__MESH__SERVICE_TOKEN) \
                 for a plaintext mesh"
            );
        }
        tracing::warn!(
            service = service.name(),
            "the mesh is plaintext under a shared token: set mesh.tls_* for mutual TLS (docs/security.md)"
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
    let mut bus = nats::connect_bus(&settings, service, &shutdown)
        .await?
        .with_config(settings.events);
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
        mesh_auth,
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

/// `/metrics`, `/healthz` and `/readyz` over HTTP for a gRPC service, for Prometheus and for
/// probes that cannot ask its gRPC health service (a kubelet has no mesh certificate).
async fn serve_metrics(listener: TcpListener, shutdown: CancellationToken) {
    let router = latchkey_gateway::metrics_router().route("/readyz", axum::routing::get(readyz));
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    if let Err(error) = served {
        tracing::error!(%error, "the metrics endpoint stopped");
    }
}

/// 200 while the service answers its gRPC health check SERVING (its database and NATS answer),
/// 503 while it does not, before it first does and while it drains.
async fn readyz() -> (axum::http::StatusCode, axum::Json<serde_json::Value>) {
    let (status, word) = if latchkey_server::serving() {
        (axum::http::StatusCode::OK, "ok")
    } else {
        (axum::http::StatusCode::SERVICE_UNAVAILABLE, "not ready")
    };
    (status, axum::Json(serde_json::json!({ "status": word })))
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

#[cfg(test)]
mod tests;
