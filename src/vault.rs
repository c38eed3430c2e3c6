//! `latchkey vault rotate`: adds a root key version and re-wraps every account's data key under it,
//! against the vault's database directly while the vault keeps serving (docs/vault.md).

use std::path::Path;

use anyhow::{Context, bail};
use latchkey_storage::{Db, sqlite_url};
use latchkey_vault::{RootKeySource, RotationReport};

use crate::{cli::Service, dev::VAULT_ROOT_KEY_FILE, settings::Settings};

/// What a rotation did, for the operator.
pub struct Rotated {
    /// The version added to the key file, if one was.
    pub added_version: Option<u32>,
    pub report: RotationReport,
}

/// Rotates the vault of a `latchkey dev` data directory (`data_dir`) or, without one, of the
/// deployment `settings` describe (`database.url` and `vault.root_key_file` / `vault.root_keys`).
/// With a key file and `add_key`, a fresh version is appended first; an inline key list cannot
/// grow, so its newest configured version is the one everything is re-wrapped under.
pub async fn rotate(settings: &Settings, data_dir: Option<&Path>, add_key: bool) -> anyhow::Result<Rotated> {
    let (source, database_url) = match data_dir {
        Some(dir) => (
            RootKeySource::File(dir.join(VAULT_ROOT_KEY_FILE)),
            sqlite_url(&dir.join(format!("{}.db", Service::Vault.name()))),
        ),
        None => {
            let source = settings
                .vault
                .root_key_source()
                .context("set vault.root_key_file or vault.root_keys (or pass --data-dir for latchkey dev)")?;
            if settings.database.url.is_empty() {
                bail!("database.url is not set (LATCHKEY__DATABASE__URL_FILE or LATCHKEY__DATABASE__URL)");
            }
            (source, settings.database.url.clone())
        }
    };
    let added_version = match (&source, add_key) {
        (RootKeySource::File(path), true) => Some(latchkey_vault::add_key_version(path)?),
        _ => None,
    };
    let db = Db::connect(&database_url)
        .await
        .context("cannot open the vault's database")?;
    let report = latchkey_vault::rotate(&db, &source).await?;
    db.close().await;
    Ok(Rotated { added_version, report })
}
