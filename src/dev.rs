//! `latchkey dev`: the whole product in one process on the embedded default, ready for a newcomer
//! in one command. Data lives under the data directory (one SQLite file per service and one for the
//! event bus); the first start creates a bootstrap account and writes its API key to
//! `bootstrap.key` (mode 0600); later starts reuse everything.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context;
use latchkey_events::EventBus;
use latchkey_server::MeshAuth;
use latchkey_storage::{Db, sqlite_url};
use rand::RngExt;
use tokio::net::TcpListener;

use crate::{
    mesh::{DatabasePlan, RunningMesh, ServiceSettings},
    settings::Settings,
};

/// The file holding the bootstrap account's API key.
pub const BOOTSTRAP_KEY_FILE: &str = "bootstrap.key";
/// The file holding the vault's root keys.
pub const VAULT_ROOT_KEY_FILE: &str = "vault-root.key";

/// A running `latchkey dev`.
pub struct DevMesh {
    pub mesh: RunningMesh,
    pub data_dir: PathBuf,
    /// The bootstrap account's API key.
    pub bootstrap_key: String,
    /// Whether this start created the bootstrap account (the first start on this data directory).
    pub bootstrapped_now: bool,
}

/// Starts every service on `data_dir`, the REST API on `http`.
pub async fn start(settings: &Settings, data_dir: &Path, http: TcpListener) -> anyhow::Result<DevMesh> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    let bus_db = Db::connect(&sqlite_url(&data_dir.join("events.db"))).await?;
    // Consumers' dead letters stay in events.db, beside their cursors.
    let bus = EventBus::local(bus_db).await?.with_config(settings.events);
    let vault_root_keys = vault_key_file(data_dir)?;
    // Services in one process still authenticate each other; a fresh token each start.
    // The bootstrap account exists before the REST API opens, so a client that waits for
    // /readyz can read bootstrap.key right away.
    let mut mesh = RunningMesh::start_services(
        DatabasePlan::SqliteDir(data_dir.to_owned()),
        bus,
        MeshAuth::new(random_token()),
        vault_root_keys,
        ServiceSettings::from_settings(settings)?,
        http.local_addr()?,
    )
    .await?;
    let key_file = data_dir.join(BOOTSTRAP_KEY_FILE);
    let (bootstrap_key, bootstrapped_now) = match std::fs::read_to_string(&key_file) {
        Ok(key) => (key.trim().to_owned(), false),
        Err(_) => {
            let (_, key) = mesh.create_account("Bootstrap account").await?;
            write_private(&key_file, &key)?;
            (key, true)
        }
    };
    mesh.start_gateway(http).await?;
    Ok(DevMesh {
        mesh,
        data_dir: data_dir.to_owned(),
        bootstrap_key,
        bootstrapped_now,
    })
}

/// The vault's root key file in `data_dir`, generated (mode 0600) on the first start. The key never
/// leaves the file: only its path is printed.
fn vault_key_file(data_dir: &Path) -> anyhow::Result<latchkey_vault::RootKeySource> {
    let path = data_dir.join(VAULT_ROOT_KEY_FILE);
    // A vault database without its key file holds secrets nothing can open any more: a fresh key
    // would only hide that. Refuse, so the key can be restored.
    let vault_db = data_dir.join(format!("{}.db", crate::cli::Service::Vault.name()));
    if !path.exists() && vault_db.exists() {
        anyhow::bail!(
            "{} is missing but {} exists: restore the root key file (without it the stored credentials \
             cannot be opened), or remove {} to start the vault empty",
            path.display(),
            vault_db.display(),
            vault_db.display()
        );
    }
    if latchkey_vault::create_key_file(&path)? {
        tracing::warn!(
            path = %path.display(),
            "generated the vault root key in the data directory: fine for development, but anyone who can \
             read this file can open every stored credential, and losing it loses them all; in production \
             keep the root key apart from the data (vault.root_key_file, docs/vault.md)"
        );
    }
    Ok(latchkey_vault::RootKeySource::File(path))
}

/// Writes `contents` to a file only its owner can read.
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(file, "{contents}")?;
    Ok(())
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    hex::encode(bytes)
}

/// What `latchkey dev` prints once it is up.
pub fn banner(dev: &DevMesh) -> String {
    let base = format!("http://{}", dev.mesh.http_addr);
    let key_note = if dev.bootstrapped_now {
        "created on this first start"
    } else {
        "reused from an earlier start"
    };
    format!(
        "\nLatchkey is running (dev mode: SQLite and the in-process event bus under {dir}).\n\n\
         \x20 REST API      {base}\n\
         \x20 API docs      {base}/docs   (OpenAPI: {base}/openapi.json)\n\
         \x20 Health        {base}/healthz, {base}/readyz, metrics at {base}/metrics\n\n\
         \x20 API key       {key}\n\
         \x20               ({key_note}; also in {key_file})\n\n\
         Try it:\n\
         \x20 curl -H \"Authorization: Bearer {key}\" {base}/v1/api-keys\n\n\
         Press Ctrl-C to stop.\n",
        dir = dev.data_dir.display(),
        key = dev.bootstrap_key,
        key_file = dev.data_dir.join(BOOTSTRAP_KEY_FILE).display(),
    )
}
