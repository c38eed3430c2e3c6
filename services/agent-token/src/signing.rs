//! The signing keys. Each key's Ed25519 seed is sealed in the vault, as secret `signing-key/<kid>` of
//! the system account (`latchkey_server::SystemSecrets`); the `signing_keys` table keeps its kid,
//! schedule and vault version, and an empty seed, so a backup of the database signs nothing. In
//! memory the keys are a [`KeyRing`]. The first start of a deployment creates a key that signs at
//! once (no token exists yet to be confused); every later key comes from a rotation, published
//! before it signs. A new key is sealed before its row is written: a failure in between leaves a
//! vault secret that no row names, which signs nothing.
//!
//! A row still holding a plaintext seed (written before keys were sealed) is sealed when it is
//! loaded: the vault write happens only if the secret is absent (or holds these very bytes), and the
//! row is cleared only while its `vault_version` is still 0, so instances starting together agree.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use latchkey_server::{SealedKeyTable, SystemSecrets};
use latchkey_storage::{Db, sqlx};
use zeroize::Zeroizing;

use crate::{
    AgentTokenError,
    tokens::{KeyRing, KeySchedule, SigningKey},
};

/// kid, seed, vault version, and the schedule.
type KeyRow = (String, Vec<u8>, i64, i64, i64, Option<i64>, Option<i64>);
type Seed = Zeroizing<[u8; 32]>;

/// The vault secret holding `kid`'s seed.
/// Where the signing keys' rows are.
const SIGNING_KEYS: SealedKeyTable = SealedKeyTable {
    table: "signing_keys",
    what: "signing key",
};

fn secret_id(kid: &str) -> String {
    format!("signing-key/{kid}")
}

/// The in-memory key ring, shared by issuing and verifying, and where its keys are sealed.
#[derive(Clone)]
pub struct SigningKeys {
    ring: Arc<RwLock<KeyRing>>,
    /// Bumped on every reload, so holders of something derived from the ring know to rebuild it.
    generation: Arc<AtomicU64>,
    vault: SystemSecrets,
    /// Seeds opened from the vault, by (kid, vault version): a reload asks the vault only for keys
    /// it does not hold yet.
    opened: Arc<Mutex<HashMap<(String, u64), Seed>>>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

/// Unix seconds now.
pub fn now_secs() -> i64 {
    latchkey_storage::now_ms() / 1000
}

impl SigningKeys {
    /// An empty ring whose keys are sealed with `vault`; [`load`](Self::load) fills it.
    pub fn new(vault: SystemSecrets) -> Self {
        Self {
            ring: Arc::default(),
            generation: Arc::default(),
            vault,
            opened: Arc::default(),
        }
    }

    /// Loads the stored keys (sealing any still in plaintext), creating the deployment's first key
    /// when none can be held. Replicas starting at once on an empty database agree on one first
    /// key: each claims the one `first_signing_key` row, and a replica that lost the claim stores
    /// nothing and loads the winner's key.
    pub async fn load(&self, db: &Db) -> Result<(), AgentTokenError> {
        self.reload(db).await?;
        if !self.read(|ring| ring.keys().is_empty()) {
            return Ok(());
        }
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM signing_keys")
            .fetch_one(db.pool())
            .await?;
        if stored > 0 {
            // Another replica may have stored the first key since the reload above.
            self.reload(db).await?;
            if !self.read(|ring| ring.keys().is_empty()) {
                return Ok(());
            }
        }
        let now = now_secs();
        let first = SigningKey::generate(KeySchedule::new(now, now));
        let version = self.seal(&first).await?;
        let mut tx = db.begin_write().await?;
        // Keys stored but none opened (the vault lost them): a new key, unclaimed. Otherwise the
        // deployment's first key, only for the replica whose claim is stored.
        let claimed = stored > 0
            || sqlx::query(
                "INSERT INTO first_signing_key (id, kid, created_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING",
            )
            .bind(first.kid())
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
        if claimed {
            insert(&mut tx, &first, version).await?;
            tx.commit().await?;
        } else {
            tx.rollback().await?;
            tracing::info!("another replica created the first signing key; loading it");
        }
        self.reload(db).await
    }

    /// Replaces the ring with what the database holds (after another instance rotated), opening
    /// from the vault only the keys not held yet. Fails, keeping the ring, while the vault cannot be
    /// reached; a key the vault cannot open is logged and left out.
    pub async fn reload(&self, db: &Db) -> Result<(), AgentTokenError> {
        let rows: Vec<KeyRow> = sqlx::query_as(
            "SELECT kid, seed, vault_version, created_at, activates_at, retires_at, published_until FROM signing_keys",
        )
        .fetch_all(db.pool())
        .await?;
        let mut loaded = Vec::with_capacity(rows.len());
        let mut held = HashSet::with_capacity(rows.len());
        for (kid, seed, vault_version, created_at, activates_at, retires_at, published_until) in rows {
            let schedule = KeySchedule {
                created_at,
                activates_at,
                retires_at,
                published_until,
            };
            let seed = Zeroizing::new(seed);
            let opened = if seed.is_empty() {
                self.open(&kid, vault_version as u64).await
            } else {
                self.seal_plaintext_row(db, &kid, &seed).await
            };
            let (version, seed) = match opened {
                Ok(opened) => opened,
                Err(error) if error.aborts_key_load() => return Err(error),
                Err(error) => {
                    tracing::error!(kid, error = %error, "a stored signing key cannot be opened; skipping it");
                    continue;
                }
            };
            match SigningKey::from_secret_bytes(&seed[..], schedule) {
                Ok(key) if key.kid() == kid => {
                    held.insert((kid, version));
                    loaded.push(key);
                }
                _ => tracing::error!(kid, "a stored signing key does not match its kid; skipping it"),
            }
        }
        self.opened
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|held_key, _| held.contains(held_key));
        let ring = KeyRing::from_keys(loaded);
        if let Ok(mut current) = self.ring.write() {
            *current = ring;
        }
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Changes whenever the ring is reloaded.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Runs `f` on the current ring.
    pub fn read<T>(&self, f: impl FnOnce(&KeyRing) -> T) -> T {
        match self.ring.read() {
            Ok(ring) => f(&ring),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    /// Rotates: a new key, sealed in the vault, published now that signs after `publish_lead`
    /// seconds; the current key retires then and stays published until its last token (at most
    /// `max_token_ttl`) expired. Persists every changed schedule in one transaction. Returns the new
    /// key's kid.
    pub async fn rotate(&self, db: &Db, publish_lead: i64, max_token_ttl: i64) -> Result<String, AgentTokenError> {
        self.reload(db).await?;
        let mut ring = self.read(Clone::clone);
        let new_kid = ring.rotate(now_secs(), publish_lead, max_token_ttl).kid().to_owned();
        // Sealed before the write transaction: the vault may share this database's SQLite file.
        let mut new_version = 0;
        for key in ring.keys().iter().filter(|key| key.kid() == new_kid) {
            new_version = self.seal(key).await?;
        }
        let mut tx = db.begin_write().await?;
        for key in ring.keys() {
            let s = key.schedule();
            if key.kid() == new_kid {
                insert(&mut tx, key, new_version).await?;
            } else {
                sqlx::query("UPDATE signing_keys SET retires_at = $1, published_until = $2 WHERE kid = $3")
                    .bind(s.retires_at)
                    .bind(s.published_until)
                    .bind(key.kid())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        self.reload(db).await?;
        Ok(new_kid)
    }

    /// Seals `key`'s seed in the vault; answers the vault version. The opened seed is kept, so the
    /// reload after writing its row does not ask the vault for it.
    async fn seal(&self, key: &SigningKey) -> Result<u64, AgentTokenError> {
        let seed = key.to_secret_bytes();
        let version = self.vault.seal_once(&secret_id(key.kid()), &seed[..]).await?;
        self.hold(key.kid(), version, Zeroizing::new(*seed));
        Ok(version)
    }

    /// `kid`'s seed at `version`, from what is held or from the vault.
    async fn open(&self, kid: &str, version: u64) -> Result<(u64, Seed), AgentTokenError> {
        if let Some(seed) = self
            .opened
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(kid.to_owned(), version))
        {
            return Ok((version, seed.clone()));
        }
        let opened = self.vault.open_version(&secret_id(kid), version).await?;
        let seed: [u8; 32] = opened
            .plaintext
            .as_slice()
            .try_into()
            .map_err(|_| AgentTokenError::UnreadableKey(kid.to_owned()))?;
        let seed = Zeroizing::new(seed);
        self.hold(kid, version, seed.clone());
        Ok((version, seed))
    }

    /// Seals a row's plaintext seed in the vault and clears it from the row, unless another
    /// instance did so first. Answers the vault version and the seed.
    async fn seal_plaintext_row(&self, db: &Db, kid: &str, seed: &[u8]) -> Result<(u64, Seed), AgentTokenError> {
        let seed: Seed = Zeroizing::new(
            seed.try_into()
                .map_err(|_| AgentTokenError::UnreadableKey(kid.to_owned()))?,
        );
        match SigningKey::from_secret_bytes(&seed[..], KeySchedule::new(0, 0)) {
            Ok(key) if key.kid() == kid => {}
            _ => return Err(AgentTokenError::UnreadableKey(kid.to_owned())),
        }
        let version = self.vault.seal_once(&secret_id(kid), &seed[..]).await?;
        SIGNING_KEYS.clear_plaintext(db, kid, version).await?;
        self.hold(kid, version, seed.clone());
        Ok((version, seed))
    }

    fn hold(&self, kid: &str, version: u64, seed: Seed) {
        self.opened
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((kid.to_owned(), version), seed);
    }
}

/// Stores `key`'s row: its kid, schedule and vault version; the seed column stays empty.
async fn insert(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    key: &SigningKey,
    vault_version: u64,
) -> Result<(), AgentTokenError> {
    let s = key.schedule();
    sqlx::query(
        "INSERT INTO signing_keys (kid, seed, vault_version, created_at, activates_at, retires_at, published_until) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(key.kid())
    .bind(Vec::<u8>::new())
    .bind(vault_version as i64)
    .bind(s.created_at)
    .bind(s.activates_at)
    .bind(s.retires_at)
    .bind(s.published_until)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
