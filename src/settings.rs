//! Layered settings: the embedded, commented defaults (`src/defaults.toml`, the reference for every
//! setting), then an optional file, then `LATCHKEY__SECTION__KEY` environment variables. The
//! environment is passed in, never read from a global inside, so tests inject what they need.
//! Values are taken as strings and converted by the field's type: a token such as `0012` keeps
//! its leading zeros. Secrets may be given as files instead (`…_file`, read in `secret_files`).

use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
    time::Duration,
};

use config::{Config, Environment, File, FileFormat};
use latchkey_gateway::GatewayConfig;
use latchkey_telemetry::TelemetryConfig;
use serde::Deserialize;

mod nats;
mod secret_files;

pub use self::{
    nats::{NatsIdentity, NatsSettings},
    secret_files::SecretFileError,
};

/// The defaults, embedded so the binary documents itself (`latchkey config` prints them).
pub const DEFAULTS: &str = include_str!("defaults.toml");

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub nats: NatsSettings,
    pub mesh: MeshSettings,
    pub server: ServerSettings,
    pub events: latchkey_events::EventsConfig,
    pub gateway: GatewayConfig,
    pub telemetry: TelemetryConfig,
    pub webhook: latchkey_webhook::WebhookConfig,
    pub oauth: latchkey_oauth::OauthConfig,
    pub vault: VaultSettings,
    pub audit: latchkey_audit::AuditConfig,
    pub policy: latchkey_policy::PolicyConfig,
    pub agent_token: latchkey_agent_token::AgentTokenConfig,
    pub domains: latchkey_agent_token::DomainsConfig,
    pub accounts: AccountsSettings,
    /// `[plans.<name>]` tables of limits (docs/plans.md); `self-hosted`, unlimited, is always there.
    #[serde(default)]
    pub plans: BTreeMap<String, latchkey_server::PlanLimits>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountsSettings {
    /// The plan new accounts (and the bootstrap account) are on.
    pub default_plan: String,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    /// PostgreSQL connections each `serve` process's pool opens at most.
    pub max_connections: u32,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeshSettings {
    pub service_token: String,
    pub agent_token_url: String,
    pub audit_url: String,
    pub policy_url: String,
    pub vault_url: String,
    pub oauth_url: String,
    pub webhook_url: String,
    pub directory_url: String,
    /// How long a mesh call may take, and one that waits on a third party (`MeshDeadlines`).
    pub call_timeout_ms: u64,
    pub long_call_timeout_ms: u64,
    /// Mutual TLS between the services (docs/security.md): the CA's certificates, this process's
    /// certificate and its key, PEM files; all three or none.
    pub tls_ca_file: String,
    pub tls_cert_file: String,
    pub tls_key_file: String,
    /// How often the TLS files are read again, to pick up rotated certificates.
    pub tls_reload_secs: u64,
    /// Lets `serve` run a plaintext mesh under the shared token (tests, benchmarks on one machine).
    pub allow_plaintext: bool,
}

impl MeshSettings {
    /// The mesh credential these settings give, its calls carrying their deadlines.
    pub fn auth(&self) -> latchkey_server::MeshAuth {
        latchkey_server::MeshAuth::new(self.service_token.clone()).with_deadlines(latchkey_server::MeshDeadlines {
            call: Duration::from_millis(self.call_timeout_ms),
            long_call: Duration::from_millis(self.long_call_timeout_ms),
        })
    }

    /// The mesh credential of the process that is `identity` (the service `serve` runs, or
    /// `operator` for the command line): over mutual TLS when the `tls_*` files are set, its
    /// certificate having to name `identity`.
    pub fn auth_as(&self, identity: &str) -> Result<latchkey_server::MeshAuth, latchkey_server::TlsError> {
        let auth = self.auth();
        match self.tls_files() {
            Some(files) => Ok(auth.with_tls(latchkey_server::MeshTls::load(
                files,
                identity,
                Duration::from_secs(self.tls_reload_secs),
            )?)),
            None => Ok(auth),
        }
    }

    /// The command line's mesh credential (`latchkey account`, `latchkey keys rotate`).
    pub fn operator_auth(&self) -> Result<latchkey_server::MeshAuth, latchkey_server::TlsError> {
        self.auth_as("operator")
    }

    /// The mesh's TLS files, when the mesh uses mutual TLS.
    pub fn tls_files(&self) -> Option<latchkey_server::TlsFiles> {
        (!self.tls_cert_file.is_empty()).then(|| latchkey_server::TlsFiles {
            ca: self.tls_ca_file.clone().into(),
            cert: self.tls_cert_file.clone().into(),
            key: self.tls_key_file.clone().into(),
        })
    }

    fn validate(&self) -> Result<(), String> {
        if self.call_timeout_ms < 100 || self.long_call_timeout_ms < 100 {
            return Err("call_timeout_ms and long_call_timeout_ms must be at least 100".to_owned());
        }
        let tls_set = [&self.tls_ca_file, &self.tls_cert_file, &self.tls_key_file].map(|file| !file.is_empty());
        if tls_set.contains(&true) && tls_set.contains(&false) {
            return Err("tls_ca_file, tls_cert_file and tls_key_file are set together or not at all".to_owned());
        }
        if self.tls_reload_secs == 0 {
            return Err("tls_reload_secs must be at least 1".to_owned());
        }
        Ok(())
    }
}

/// The URL may carry a password: `Debug` shows only which backend it names.
impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = self.url.split(':').next().unwrap_or_default();
        f.debug_struct("DatabaseSettings")
            .field("url", &format_args!("{backend}:<redacted>"))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl std::fmt::Debug for MeshSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshSettings")
            .field("service_token", &"<redacted>")
            .field("agent_token_url", &self.agent_token_url)
            .field("audit_url", &self.audit_url)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: String,
    pub metrics_listen: String,
    /// Where clients reach the REST API; empty means "derive it" (`ServiceSettings::public_url`).
    pub public_url: String,
    /// How long `serve` keeps serving, not ready, once told to stop.
    pub shutdown_drain_secs: u64,
}

/// The vault's root keys: a key file (preferred; `latchkey vault rotate` adds versions to it, and
/// a running vault re-reads it, so it stays a path rather than being read at load) or an inline
/// list, not both. Never printed.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultSettings {
    pub root_key_file: String,
    pub root_keys: String,
}

impl std::fmt::Debug for VaultSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultSettings")
            .field("root_key_file", &self.root_key_file)
            .field("root_keys", &"<redacted>")
            .finish()
    }
}

impl VaultSettings {
    /// The key file is the inline list's file form: only one of them may be set, as for every secret.
    fn validate(&self) -> Result<(), SecretFileError> {
        if !self.root_key_file.is_empty() && !self.root_keys.trim().is_empty() {
            return Err(SecretFileError::both_set("vault.root_keys", "vault.root_key_file"));
        }
        Ok(())
    }

    /// Where the root keys come from: the key file if one is named, else the inline list, else
    /// nowhere (only the vault itself needs them). Loading refuses both.
    pub fn root_key_source(&self) -> Option<latchkey_vault::RootKeySource> {
        if !self.root_key_file.is_empty() {
            Some(latchkey_vault::RootKeySource::File(self.root_key_file.clone().into()))
        } else if !self.root_keys.trim().is_empty() {
            Some(latchkey_vault::RootKeySource::Inline(self.root_keys.clone().into()))
        } else {
            None
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid settings: {0}")]
    Invalid(#[from] config::ConfigError),
    /// Not a `source`: the message already ends in the cause (an unreadable file's I/O error).
    #[error("invalid settings: {0}")]
    SecretFile(SecretFileError),
}

impl From<SecretFileError> for SettingsError {
    fn from(error: SecretFileError) -> Self {
        Self::SecretFile(error)
    }
}

impl Settings {
    /// The deployment's plans: the `[plans.*]` tables, plus the unlimited `self-hosted` plan unless
    /// a table redefines it.
    pub fn plans(&self) -> Result<latchkey_server::Plans, latchkey_server::plans::PlanError> {
        let mut plans = self.plans.clone();
        plans
            .entry(latchkey_server::plans::SELF_HOSTED_PLAN.to_owned())
            .or_default();
        latchkey_server::Plans::new(&self.accounts.default_plan, plans)
    }

    /// Loads the defaults, then `file` if given, then the `LATCHKEY__…` entries of `env`.
    pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, SettingsError> {
        let env: HashMap<String, String> = env.into_iter().filter(|(k, _)| k.starts_with("LATCHKEY__")).collect();
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(file) = file {
            builder = builder.add_source(File::from(file).format(FileFormat::Toml).required(true));
        }
        let mut config = builder
            .add_source(
                Environment::with_prefix("LATCHKEY")
                    .prefix_separator("__")
                    .separator("__")
                    .source(Some(env)),
            )
            .build()?;
        secret_files::resolve(&mut config.cache)?;
        let mut settings = config.try_deserialize::<Settings>()?;
        settings.vault.validate()?;
        settings.nats.read_key_files()?;
        settings
            .nats
            .stream()
            .validate()
            .and_then(|()| settings.nats.validate())
            .map_err(|message| SettingsError::Invalid(config::ConfigError::Message(format!("[nats] {message}"))))?;
        settings
            .mesh
            .validate()
            .map_err(|message| SettingsError::Invalid(config::ConfigError::Message(format!("[mesh] {message}"))))?;
        if !(1..=1000).contains(&settings.database.max_connections) {
            return Err(SettingsError::Invalid(config::ConfigError::Message(
                "[database] max_connections must be 1 to 1000".to_owned(),
            )));
        }
        if settings.server.shutdown_drain_secs > 60 {
            return Err(SettingsError::Invalid(config::ConfigError::Message(
                "[server] shutdown_drain_secs must be at most 60".to_owned(),
            )));
        }
        Ok(settings.normalised())
    }

    /// Empty strings in the file format mean "not set".
    fn normalised(mut self) -> Self {
        if self.telemetry.otlp_endpoint.as_deref() == Some("") {
            self.telemetry.otlp_endpoint = None;
        }
        self
    }
}

#[cfg(test)]
mod tests;
