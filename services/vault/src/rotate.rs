//! Root key rotation: every data key not yet wrapped under the newest root key is unwrapped with
//! the version it is under and wrapped again under the newest. Data keys themselves do not change,
//! so no secret is re-sealed and running vaults keep serving throughout: each row changes in one
//! statement (version and wrapping together), guarded by the version it was read at.

use latchkey_storage::{Db, now_ms, sqlx};

use crate::{MIGRATIONS, RootKeySource, VaultError, envelope::DataKey};

/// Rows re-wrapped per read.
const BATCH: i64 = 200;

/// What a rotation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationReport {
    /// The root key version every data key is wrapped under now.
    pub root_version: u32,
    /// Data keys re-wrapped by this run.
    pub rewrapped: u64,
    /// Data keys of every account.
    pub data_keys: u64,
}

/// Re-wraps every data key in `db` under the newest root key of `source`.
pub async fn rotate(db: &Db, source: &RootKeySource) -> Result<RotationReport, VaultError> {
    db.migrate("vault", MIGRATIONS).await?;
    let keyring = source.load()?;
    let newest = keyring
        .newest()
        .ok_or_else(|| VaultError::RootKeys("no root key is configured".to_owned()))?;
    let newest_version = i64::from(newest.version);
    let mut rewrapped = 0;
    // Rows a concurrent writer changed under us are read again on the next pass; rows wrapped under
    // a version we do not hold stop the run (their accounts' secrets could not be opened).
    loop {
        let rows: Vec<(String, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT account_id, root_version, wrapped_key FROM vault_data_keys WHERE root_version < $1 \
             ORDER BY account_id LIMIT $2",
        )
        .bind(newest_version)
        .bind(BATCH)
        .fetch_all(db.pool())
        .await?;
        if rows.is_empty() {
            break;
        }
        for (account_id, root_version, wrapped) in rows {
            let version = u32::try_from(root_version).unwrap_or(0);
            let root = keyring.get(version).ok_or_else(|| VaultError::UnknownRootVersion {
                account_id: account_id.clone(),
                version,
            })?;
            let data_key = DataKey::unwrap(root, &account_id, &wrapped).map_err(|_| VaultError::Tampered {
                account_id: account_id.clone(),
                what: "the data key".to_owned(),
            })?;
            let updated = sqlx::query(
                "UPDATE vault_data_keys SET root_version = $2, wrapped_key = $3, rewrapped_at = $4 \
                 WHERE account_id = $1 AND root_version = $5",
            )
            .bind(&account_id)
            .bind(newest_version)
            .bind(data_key.wrap(newest, &account_id))
            .bind(now_ms())
            .bind(root_version)
            .execute(db.pool())
            .await?;
            rewrapped += updated.rows_affected();
        }
    }
    let (data_keys,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM vault_data_keys")
        .fetch_one(db.pool())
        .await?;
    tracing::info!(root_version = newest.version, rewrapped, "vault data keys re-wrapped");
    Ok(RotationReport {
        root_version: newest.version,
        rewrapped,
        data_keys: data_keys as u64,
    })
}
