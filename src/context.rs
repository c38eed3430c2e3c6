//! What services are started with, in one process or one per process: where their tables are,
//! the mesh's addresses, the event bus, the mesh credential, and their settings sections. `mesh`
//! (starting services) and `serve` (one service per process) both build on it.

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf};

use anyhow::Context;
use latchkey_events::EventBus;
use latchkey_gateway::GatewayConfig;
use latchkey_server::MeshAuth;

use crate::{cli::Service, settings::Settings};

/// Where services keep their tables.
#[derive(Clone, Debug)]
pub enum DatabasePlan {
    /// One SQLite file per service in this directory (the embedded default).
    SqliteDir(PathBuf),
    /// One database URL for every service (each owns its own tables in it), and the most
    /// connections each service's pool opens.
    Url { url: String, max_connections: u32 },
}

impl DatabasePlan {
    /// One URL for every service, with the default pool size.
    pub fn url(url: impl Into<String>) -> Self {
        Self::Url {
            url: url.into(),
            max_connections: latchkey_storage::DEFAULT_MAX_CONNECTIONS,
        }
    }

    pub fn url_for(&self, service: Service) -> String {
        match self {
            Self::SqliteDir(dir) => latchkey_storage::sqlite_url(&dir.join(format!("{}.db", service.name()))),
            Self::Url { url, .. } => url.clone(),
        }
    }

    /// Opens `service`'s database.
    pub async fn connect(&self, service: Service) -> Result<latchkey_storage::Db, latchkey_storage::StorageError> {
        let max_connections = match self {
            Self::SqliteDir(_) => latchkey_storage::DEFAULT_MAX_CONNECTIONS,
            Self::Url { max_connections, .. } => *max_connections,
        };
        latchkey_storage::Db::connect_with_pool(&self.url_for(service), max_connections).await
    }
}

/// The gRPC address of every service, as the gateway and other callers reach them.
#[derive(Clone, Debug, Default)]
pub struct MeshUrls(pub BTreeMap<&'static str, String>);

impl MeshUrls {
    pub fn of(&self, service: Service) -> anyhow::Result<&str> {
        self.0
            .get(service.name())
            .map(String::as_str)
            .with_context(|| format!("no address configured for {}", service.name()))
    }
}

/// What every service needs from its surroundings.
#[derive(Clone, Debug)]
pub struct ServiceContext {
    pub database: DatabasePlan,
    pub bus: EventBus,
    pub mesh_auth: MeshAuth,
    pub urls: MeshUrls,
    /// Where the vault's root keys come from (required to run the vault).
    pub vault_root_keys: Option<latchkey_vault::RootKeySource>,
    pub settings: ServiceSettings,
}

impl ServiceContext {
    /// How `service` is known in the mesh: over mTLS by the certificate of its process (which runs
    /// that one service); otherwise by its name, for its calls to services of the same process.
    pub fn mesh_auth_of(&self, service: Service) -> MeshAuth {
        match self.mesh_auth.tls() {
            Some(_) => self.mesh_auth.clone(),
            None => self.mesh_auth.clone().as_identity(service.name()),
        }
    }
}

/// The services' own settings: the `[gateway]`, `[webhook]`, `[oauth]`, `[audit]`, `[policy]`,
/// `[agent_token]` and `[domains]` sections of the settings file.
#[derive(Clone, Debug)]
pub struct ServiceSettings {
    /// Where clients reach the REST API (`server.public_url`), without a trailing slash; empty
    /// until [`resolve_public_url`](Self::resolve_public_url) fills in the gateway's address.
    pub public_url: String,
    /// The deployment's plans (`[plans.*]`, `[accounts] default_plan`).
    pub plans: latchkey_server::Plans,
    pub gateway: GatewayConfig,
    pub webhook: latchkey_webhook::WebhookConfig,
    /// An empty `callback_url` means the gateway's own `/oauth/callback` in an in-process mesh.
    pub oauth: latchkey_oauth::OauthConfig,
    pub audit: latchkey_audit::AuditConfig,
    pub policy: latchkey_policy::PolicyConfig,
    pub agent_token: latchkey_agent_token::AgentTokenConfig,
    /// Domain verification's DNS (agent-token).
    pub domains: latchkey_agent_token::DomainsConfig,
    /// Where the gateway serves `/metrics` instead of on its public port (`server.metrics_listen`,
    /// set by `serve`); `None` keeps it on the public port.
    pub gateway_metrics_listen: Option<SocketAddr>,
}

impl ServiceSettings {
    /// The sections of `settings`.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        Ok(Self {
            plans: settings.plans()?,
            public_url: settings.server.public_url.trim_end_matches('/').to_owned(),
            gateway: settings.gateway.clone(),
            webhook: settings.webhook.clone(),
            oauth: settings.oauth.clone(),
            audit: settings.audit.clone(),
            policy: settings.policy.clone(),
            agent_token: settings.agent_token.clone(),
            domains: settings.domains.clone(),
            gateway_metrics_listen: None,
        })
    }
}

impl Default for ServiceSettings {
    /// Every section's defaults, with the oauth callback on the in-process gateway.
    fn default() -> Self {
        Self {
            public_url: String::new(),
            plans: latchkey_server::Plans::default(),
            gateway: GatewayConfig::default(),
            webhook: latchkey_webhook::WebhookConfig::default(),
            oauth: latchkey_oauth::OauthConfig {
                callback_url: String::new(),
                ..latchkey_oauth::OauthConfig::default()
            },
            audit: latchkey_audit::AuditConfig::default(),
            policy: latchkey_policy::PolicyConfig::default(),
            agent_token: latchkey_agent_token::AgentTokenConfig::default(),
            domains: latchkey_agent_token::DomainsConfig::default(),
            gateway_metrics_listen: None,
        }
    }
}

impl ServiceSettings {
    /// Fills what derives from the public URL: the URL itself (`http://{gateway}` when unset) and
    /// the OAuth callback (`{public_url}/oauth/callback` when unset). Refuses a URL that is not
    /// http(s), since every link Latchkey hands out starts with it.
    pub fn resolve_public_url(&mut self, gateway: SocketAddr) -> anyhow::Result<()> {
        if self.public_url.is_empty() {
            self.public_url = format!("http://{gateway}");
        }
        let scheme_ok = self.public_url.starts_with("http://") || self.public_url.starts_with("https://");
        if !scheme_ok || self.public_url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            anyhow::bail!("server.public_url must be an http:// or https:// URL such as https://latchkey.example.com");
        }
        if self.oauth.callback_url.is_empty() {
            self.oauth.callback_url = format!("{}/oauth/callback", self.public_url);
        }
        Ok(())
    }
}

/// The mesh addresses `settings` names (`[mesh]`).
pub fn mesh_urls(settings: &Settings) -> MeshUrls {
    let mesh = &settings.mesh;
    MeshUrls(
        [
            (Service::AgentToken, &mesh.agent_token_url),
            (Service::Audit, &mesh.audit_url),
            (Service::Policy, &mesh.policy_url),
            (Service::Vault, &mesh.vault_url),
            (Service::Oauth, &mesh.oauth_url),
            (Service::Webhook, &mesh.webhook_url),
            (Service::Directory, &mesh.directory_url),
        ]
        .into_iter()
        .map(|(service, url)| (service.name(), url.clone()))
        .collect(),
    )
}

#[cfg(test)]
mod tests;
