//! `latchkey migrate <service>`: brings one service's database to this build's schema and exits.
//! `serve` does the same at every start, so this adds no step a deployment must take; it lets one
//! be taken on its own, before the new build's replicas roll out (a Kubernetes Job,
//! deploy/README.md), so a failing migration fails there rather than in every new pod. Migrations
//! run under the migration lock: beside running replicas, and twice at once, each applies once.

use anyhow::{Context, bail};
use latchkey_storage::{Db, sqlx};

use crate::{cli::Service, settings::Settings};

/// Migrates `service`'s database (`database.url`); answers every schema in it (the service's, the
/// outbox's, the dead letters') with the newest version applied, by name.
pub async fn migrate(settings: &Settings, service: Service) -> anyhow::Result<Vec<(String, i64)>> {
    if service == Service::Gateway {
        bail!("the gateway keeps no database: there is nothing to migrate");
    }
    if settings.database.url.is_empty() {
        bail!(
            "{} needs database.url (LATCHKEY__DATABASE__URL_FILE naming a file that holds it, or LATCHKEY__DATABASE__URL)",
            service.name()
        );
    }
    let db = Db::connect_with_pool(&settings.database.url, 1)
        .await
        .with_context(|| format!("cannot open {}'s database", service.name()))?;
    let migrated = apply(&db, service).await;
    let versions = match migrated {
        Ok(()) => versions(&db).await,
        Err(error) => Err(error),
    };
    db.close().await;
    versions.with_context(|| format!("cannot migrate {}'s database", service.name()))
}

async fn apply(db: &Db, service: Service) -> anyhow::Result<()> {
    match service {
        Service::AgentToken => {
            latchkey_agent_token::migrate(db).await?;
        }
        Service::Audit => latchkey_audit::migrate(db).await?,
        Service::Policy => {
            latchkey_policy::migrate(db).await?;
        }
        Service::Vault => {
            latchkey_vault::migrate(db).await?;
        }
        Service::Oauth => {
            latchkey_oauth::migrate(db).await?;
        }
        Service::Webhook => {
            latchkey_webhook::migrate(db).await?;
        }
        Service::Directory => {
            latchkey_directory::migrate(db).await?;
        }
        Service::Gateway => {}
    }
    // `serve` opens the dead letters of the service's consumers in its database too.
    latchkey_events::DeadLetters::open(db.clone()).await?;
    Ok(())
}

async fn versions(db: &Db) -> anyhow::Result<Vec<(String, i64)>> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT service, MAX(version) FROM latchkey_migrations GROUP BY service ORDER BY service")
            .fetch_all(db.pool())
            .await?;
    Ok(rows)
}
