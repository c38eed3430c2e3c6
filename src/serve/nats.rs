//! `latchkey serve`'s event bus: a connection to NATS as the service's own user (`[nats]` user and
//! password, nkey or `.creds`), and the event stream ensured on it.

use std::time::Duration;

use anyhow::{Context, bail};
use async_nats::{ConnectErrorKind, ConnectOptions};
use latchkey_events::{EventBus, NatsConnection};
use tokio_util::sync::CancellationToken;

use crate::{cli::Service, settings::Settings};

/// How often the NATS client pings the server to find out whether the connection still works.
const NATS_PING_INTERVAL: Duration = Duration::from_secs(10);
/// The first wait before trying NATS again; it doubles up to [`LONGEST_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(200);
const LONGEST_RETRY: Duration = Duration::from_secs(5);

/// Connects to NATS as `service` and ensures the event stream, retrying until NATS answers: in a
/// mesh that starts all at once the broker may come up after the service. Credentials the broker
/// refuses stop the start instead: trying them again cannot help.
pub(super) async fn connect_bus(
    settings: &Settings,
    service: Service,
    shutdown: &CancellationToken,
) -> anyhow::Result<EventBus> {
    let connection = connect(settings, service, shutdown).await?;
    let mut delay = FIRST_RETRY;
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
        delay = (delay * 2).min(LONGEST_RETRY);
    }
}

/// The first connection, tried until a server answers. Once connected, the client reconnects by
/// itself for as long as the process runs.
async fn connect(
    settings: &Settings,
    service: Service,
    shutdown: &CancellationToken,
) -> anyhow::Result<NatsConnection> {
    let servers = settings.nats.servers();
    let mut delay = FIRST_RETRY;
    loop {
        let options = settings
            .nats
            .authenticate(options(service))
            .context("cannot use nats.credentials_file")?;
        match NatsConnection::connect(servers.clone(), options).await {
            Ok(connection) => return Ok(connection),
            Err(error)
                if matches!(
                    error.kind(),
                    ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication
                ) =>
            {
                bail!(
                    "NATS at {} refused {} for {}: {error} (the broker's authorization must know this \
                     service's user: `latchkey nats-config`, docs/operations.md)",
                    settings.nats.url,
                    settings.nats.identity(),
                    service.name()
                );
            }
            Err(error) => tracing::warn!(%error, url = %settings.nats.url, "NATS not reachable; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.cancelled() => bail!("stopped before NATS was reachable"),
        }
        delay = (delay * 2).min(LONGEST_RETRY);
    }
}

/// The client's options, credentials aside. The events crate makes the client and follows the
/// connection's events: live subscriptions must know when the client was disconnected, as it
/// resubscribes silently. A connection that dies without a word (no FIN, no RST) is noticed after
/// three unanswered pings: with pings every 10 s rather than the library's 60 s, within half a
/// minute instead of three, under the caches' TTLs. Replies come to the service's own inbox
/// prefix, the only one its NATS user may read (`latchkey_events::access`).
fn options(service: Service) -> ConnectOptions {
    ConnectOptions::new()
        .name(format!("latchkey-{}", service.name()))
        .custom_inbox_prefix(latchkey_events::access::inbox_prefix(service.name()))
        .ping_interval(NATS_PING_INTERVAL)
}
