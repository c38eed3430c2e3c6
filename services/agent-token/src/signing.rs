//! The signing keys, kept in the service's database and held in memory as a [`KeyRing`]. The first
//! start of a deployment creates a key that signs at once (no token exists yet to be confused);
//! every later key comes from a rotation, published before it signs.

use std::sync::{
    Arc, RwLock,
    atomic::{AtomicU64, Ordering},
};

use latchkey_storage::{Db, sqlx};

use crate::{
    AgentTokenError,
    tokens::{KeyRing, KeySchedule, SigningKey},
};

type KeyRow = (String, Vec<u8>, i64, i64, Option<i64>, Option<i64>);

/// The in-memory key ring, shared by issuing and verifying.
#[derive(Clone, Debug, Default)]
pub struct SigningKeys {
    ring: Arc<RwLock<KeyRing>>,
    /// Bumped on every reload, so holders of something derived from the ring know to rebuild it.
    generation: Arc<AtomicU64>,
}

/// Unix seconds now.
pub fn now_secs() -> i64 {
    latchkey_storage::now_ms() / 1000
}

impl SigningKeys {
    /// Loads the stored keys, creating the deployment's first key when there is none.
    pub async fn load(db: &Db) -> Result<Self, AgentTokenError> {
        let keys = Self::default();
        keys.reload(db).await?;
        if keys.read(|ring| ring.keys().is_empty()) {
            let now = now_secs();
            let first = SigningKey::generate(KeySchedule::new(now, now));
            store(db, &first).await?;
            keys.reload(db).await?;
        }
        Ok(keys)
    }

    /// Replaces the ring with what the database holds (after another instance rotated).
    pub async fn reload(&self, db: &Db) -> Result<(), AgentTokenError> {
        let rows: Vec<KeyRow> =
            sqlx::query_as("SELECT kid, seed, created_at, activates_at, retires_at, published_until FROM signing_keys")
                .fetch_all(db.pool())
                .await?;
        let mut loaded = Vec::with_capacity(rows.len());
        for (kid, seed, created_at, activates_at, retires_at, published_until) in rows {
            let schedule = KeySchedule {
                created_at,
                activates_at,
                retires_at,
                published_until,
            };
            match SigningKey::from_secret_bytes(&seed, schedule) {
                Ok(key) => loaded.push(key),
                Err(_) => tracing::error!(kid, "a stored signing key is unreadable; skipping it"),
            }
        }
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

    /// Rotates: a new key published now that signs after `publish_lead` seconds; the current key
    /// retires then and stays published until its last token (at most `max_token_ttl`) expired.
    /// Persists every changed schedule in one transaction. Returns the new key's kid.
    pub async fn rotate(&self, db: &Db, publish_lead: i64, max_token_ttl: i64) -> Result<String, AgentTokenError> {
        self.reload(db).await?;
        let mut ring = self.read(Clone::clone);
        let new_kid = ring.rotate(now_secs(), publish_lead, max_token_ttl).kid().to_owned();
        let mut tx = db.begin_write().await?;
        for key in ring.keys() {
            let s = key.schedule();
            if key.kid() == new_kid {
                insert(&mut tx, key).await?;
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
}

async fn store(db: &Db, key: &SigningKey) -> Result<(), AgentTokenError> {
    let mut tx = db.begin_write().await?;
    insert(&mut tx, key).await?;
    tx.commit().await?;
    Ok(())
}

async fn insert(tx: &mut sqlx::Transaction<'static, sqlx::Any>, key: &SigningKey) -> Result<(), AgentTokenError> {
    let s = key.schedule();
    let seed = key.to_secret_bytes();
    sqlx::query(
        "INSERT INTO signing_keys (kid, seed, created_at, activates_at, retires_at, published_until) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(key.kid())
    .bind(seed.to_vec())
    .bind(s.created_at)
    .bind(s.activates_at)
    .bind(s.retires_at)
    .bind(s.published_until)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
