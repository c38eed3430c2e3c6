//! Per-account data keys: created on an account's first write, wrapped under the newest root key,
//! unwrapped on use and cached in memory for the life of the process. Re-wrapping (rotation)
//! changes only the wrapping, never the data key, so a cached key stays right across rotations.

use std::sync::Arc;

use latchkey_ids::AccountId;
use latchkey_storage::{now_ms, sqlx};

use crate::{Vault, VaultError, envelope::DataKey};

/// Cached data keys before the cache is emptied and refilled on demand; bounds the memory (and
/// the key material) a long-running vault holds.
const DATA_KEY_CACHE_LIMIT: usize = 10_000;

impl Vault {
    /// The account's data key. When it has none yet: `None`, or with `create` a fresh one, stored
    /// wrapped under the newest root key (two concurrent first writes agree on one key).
    pub(crate) async fn data_key(&self, account: &AccountId, create: bool) -> Result<Option<Arc<DataKey>>, VaultError> {
        if let Some(key) = self.cached_data_key(account) {
            return Ok(Some(key));
        }
        if let Some(key) = self.load_data_key(account).await? {
            return Ok(Some(key));
        }
        if !create {
            return Ok(None);
        }
        let keyring = self.refreshed_keyring()?;
        let root = keyring
            .newest()
            .ok_or_else(|| VaultError::RootKeys("no root key is configured".to_owned()))?;
        let key = DataKey::generate();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO vault_data_keys (account_id, root_version, wrapped_key, created_at, rewrapped_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (account_id) DO NOTHING",
        )
        .bind(account.as_str())
        .bind(i64::from(root.version))
        .bind(key.wrap(root, account.as_str()))
        .bind(now)
        .execute(self.db.pool())
        .await?;
        // Whoever inserted first won; everyone uses the stored key.
        self.load_data_key(account).await
    }

    fn cached_data_key(&self, account: &AccountId) -> Option<Arc<DataKey>> {
        let cache = self
            .keys
            .data_keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.get(account).cloned()
    }

    /// Reads and unwraps the stored data key, re-reading the root keys once if it is wrapped under
    /// a version this instance has not loaded yet (a rotation in progress elsewhere).
    async fn load_data_key(&self, account: &AccountId) -> Result<Option<Arc<DataKey>>, VaultError> {
        let row: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT root_version, wrapped_key FROM vault_data_keys WHERE account_id = $1")
                .bind(account.as_str())
                .fetch_optional(self.db.pool())
                .await?;
        let Some((root_version, wrapped)) = row else {
            return Ok(None);
        };
        let version = u32::try_from(root_version).map_err(|_| VaultError::Tampered {
            account_id: account.to_string(),
            what: "the data key".to_owned(),
        })?;
        let mut keyring = self.keyring();
        if keyring.get(version).is_none() {
            keyring = self.refreshed_keyring()?;
        }
        let root = keyring.get(version).ok_or_else(|| VaultError::UnknownRootVersion {
            account_id: account.to_string(),
            version,
        })?;
        let key = Arc::new(
            DataKey::unwrap(root, account.as_str(), &wrapped).map_err(|_| VaultError::Tampered {
                account_id: account.to_string(),
                what: "the data key".to_owned(),
            })?,
        );
        let mut cache = self
            .keys
            .data_keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.len() >= DATA_KEY_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(account.clone(), Arc::clone(&key));
        Ok(Some(key))
    }
}
