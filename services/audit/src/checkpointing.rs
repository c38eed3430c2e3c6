//! Taking, keeping and serving signed checkpoints; the signing keys they are made with. A key's
//! Ed25519 seed is sealed in the vault, as secret `audit-checkpoint-key/<kid>` of the system account
//! (`latchkey_server::SystemSecrets`); `audit_signing_keys` keeps its kid, creation time and vault
//! version, and an empty seed, so a backup of the database signs nothing.

use std::sync::{
    Arc, PoisonError,
    atomic::{AtomicU64, Ordering},
};

use latchkey_errors::{ApiError, ErrorCode};
use latchkey_ids::AccountId;
use latchkey_server::{InfraError, SealedKeyTable, SystemSecrets};
use latchkey_storage::{Db, StorageError, is_unique_violation, now_ms, rusqlite, sqlx};
use zeroize::Zeroizing;

use crate::{
    Audit, AuditError,
    chain::{ChainVerifier, EntryFields, Link},
    checkpoint::{Checkpoint, CheckpointKey},
};

type CheckpointRow = (String, i64, String, i64, String, String);

fn checkpoint_from_row((account_id, seq, hash, time_ms, kid, signature): CheckpointRow) -> Checkpoint {
    Checkpoint {
        account_id,
        seq,
        hash,
        time_ms,
        kid,
        signature,
    }
}

/// The vault secret holding checkpoint key `kid`'s seed.
/// Where the checkpoint keys' rows are.
const CHECKPOINT_KEYS: SealedKeyTable = SealedKeyTable {
    table: "audit_signing_keys",
    what: "checkpoint key",
};

fn secret_id(kid: &str) -> String {
    format!("audit-checkpoint-key/{kid}")
}

/// Opens every stored checkpoint key from the vault, newest first, sealing any row still holding a
/// plaintext seed. Fails while the database or the vault does not answer; a key the vault cannot
/// open is logged and left out.
async fn read_keys(db: &Db, vault: &SystemSecrets) -> Result<Vec<CheckpointKey>, AuditError> {
    let rows: Vec<(String, Vec<u8>, i64)> =
        sqlx::query_as("SELECT kid, seed, vault_version FROM audit_signing_keys ORDER BY created_ms DESC, kid")
            .fetch_all(db.pool())
            .await?;
    let mut keys = Vec::with_capacity(rows.len());
    for (kid, seed, vault_version) in rows {
        let seed = Zeroizing::new(seed);
        let opened = if seed.is_empty() {
            open_key(vault, &kid, vault_version as u64).await
        } else {
            seal_plaintext_row(db, vault, &kid, &seed).await
        };
        match opened {
            Ok(key) => keys.push(key),
            Err(error) if error.aborts_key_load() => return Err(error),
            Err(error) => tracing::error!(kid, error = %error, "a stored checkpoint key cannot be opened; skipping it"),
        }
    }
    Ok(keys)
}

/// The key whose seed this is, if it is `kid`'s.
fn key_of(kid: &str, seed: &[u8]) -> Result<CheckpointKey, AuditError> {
    CheckpointKey::from_seed(seed)
        .filter(|key| key.kid() == kid)
        .ok_or_else(|| AuditError::UnreadableKey(kid.to_owned()))
}

async fn open_key(vault: &SystemSecrets, kid: &str, version: u64) -> Result<CheckpointKey, AuditError> {
    let opened = vault.open_version(&secret_id(kid), version).await?;
    key_of(kid, &opened.plaintext)
}

/// Seals a row's plaintext seed in the vault and clears it from the row, unless another instance
/// did so first (the vault keeps one copy; the row changes only while its version is still 0).
async fn seal_plaintext_row(
    db: &Db,
    vault: &SystemSecrets,
    kid: &str,
    seed: &[u8],
) -> Result<CheckpointKey, AuditError> {
    let key = key_of(kid, seed)?;
    let version = vault.seal_once(&secret_id(kid), seed).await?;
    CHECKPOINT_KEYS.clear_plaintext(db, kid, version).await?;
    Ok(key)
}

impl Audit {
    /// Opens the checkpoint keys from the vault (see [`with_vault`](Self::with_vault)), sealing any
    /// row still holding a plaintext seed, and creates the first, sealed, on a deployment's first
    /// start. Until this succeeds no checkpoint is signed. [`run`](Self::run) calls it, waiting for
    /// the vault.
    pub async fn open_checkpoint_keys(&self) -> Result<(), AuditError> {
        let vault = self.vault.as_ref().ok_or(AuditError::NoVault)?;
        let mut keys = read_keys(&self.db, vault).await?;
        if keys.is_empty() {
            let key = CheckpointKey::generate();
            // Sealed before its row exists: a failure in between leaves a vault secret no row names.
            let version = vault.seal_once(&secret_id(key.kid()), &key.seed()[..]).await?;
            let stored = sqlx::query(
                "INSERT INTO audit_signing_keys (kid, seed, vault_version, created_ms) VALUES ($1, $2, $3, $4)",
            )
            .bind(key.kid())
            .bind(Vec::<u8>::new())
            .bind(version as i64)
            .bind(now_ms())
            .execute(self.db.pool())
            .await;
            match stored {
                Ok(_) => {}
                // Another instance starting at the same time stored its own: both are kept and published.
                Err(err) if is_unique_violation(&err) => {}
                Err(err) => return Err(err.into()),
            }
            keys = read_keys(&self.db, vault).await?;
        }
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
        Ok(())
    }

    /// The checkpoint keys, newest (the signer) first; empty until they are opened.
    fn keys(&self) -> Arc<Vec<CheckpointKey>> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The public JWKs of the checkpoint keys; empty until they are opened.
    pub fn checkpoint_jwks(&self) -> Vec<serde_json::Value> {
        self.keys().iter().map(CheckpointKey::public_jwk).collect()
    }

    /// Signs the head of every chain that moved since its last checkpoint; answers how many it signed.
    pub async fn take_checkpoints(&self) -> Result<usize, AuditError> {
        let moved: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT e.account_id, e.seq, e.hash FROM audit_entries e \
             JOIN (SELECT account_id, MAX(seq) AS head FROM audit_entries GROUP BY account_id) h \
               ON h.account_id = e.account_id AND h.head = e.seq \
             WHERE e.seq > COALESCE((SELECT MAX(c.seq) FROM audit_checkpoints c WHERE c.account_id = e.account_id), 0)",
        )
        .fetch_all(self.db.pool())
        .await?;
        let mut signed = 0;
        for (account_id, seq, hash) in moved {
            // Only parsed accounts are appended; a chain of any other (logged) is not signed, and
            // does not keep every other chain from being signed.
            let Ok(account) = latchkey_server::stored_id::<AccountId>(account_id) else {
                continue;
            };
            if self.store_checkpoint(&account, seq, &hash).await? {
                signed += 1;
            }
        }
        Ok(signed)
    }

    /// Signs `account`'s head now if it moved, and answers its latest checkpoint.
    pub async fn sign_checkpoint(&self, account: &AccountId) -> Result<Checkpoint, AuditError> {
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_entries WHERE account_id = $1 ORDER BY seq DESC LIMIT 1")
                .bind(account.as_str())
                .fetch_optional(self.db.pool())
                .await?;
        let Some((seq, hash)) = head else {
            return Err(AuditError::Invalid(ApiError::new(
                ErrorCode::NotFound,
                "the audit log has no entry yet, so there is no head to sign",
            )));
        };
        let latest = self.checkpoints(account, 1, None).await?.0.into_iter().next();
        if latest.as_ref().is_none_or(|latest| latest.seq < seq) {
            self.store_checkpoint(account, seq, &hash).await?;
        }
        let latest = self.checkpoints(account, 1, None).await?.0.into_iter().next();
        latest.ok_or(AuditError::Infra(InfraError::Internal(
            "a checkpoint just stored does not read back",
        )))
    }

    /// Stores a signed checkpoint of `(seq, hash)`; false when one already exists at that seq.
    async fn store_checkpoint(&self, account: &AccountId, seq: i64, hash: &str) -> Result<bool, AuditError> {
        let keys = self.keys();
        let key = keys.first().ok_or(AuditError::NoSigningKey)?;
        let checkpoint = key.sign(account.as_str(), seq, hash, now_ms());
        let stored = sqlx::query(
            "INSERT INTO audit_checkpoints (account_id, seq, hash, time_ms, kid, signature) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&checkpoint.account_id)
        .bind(checkpoint.seq)
        .bind(&checkpoint.hash)
        .bind(checkpoint.time_ms)
        .bind(&checkpoint.kid)
        .bind(&checkpoint.signature)
        .execute(self.db.pool())
        .await;
        match stored {
            Ok(_) => Ok(true),
            Err(err) if is_unique_violation(&err) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }

    /// `account`'s checkpoints, newest first, below `cursor` (a seq), and the next page's cursor.
    pub async fn checkpoints(
        &self,
        account: &AccountId,
        limit: u32,
        cursor: Option<i64>,
    ) -> Result<(Vec<Checkpoint>, Option<i64>), AuditError> {
        let limit = i64::from(limit.clamp(1, 1000));
        let rows: Vec<CheckpointRow> = sqlx::query_as(
            "SELECT account_id, seq, hash, time_ms, kid, signature FROM audit_checkpoints \
             WHERE account_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
        )
        .bind(account.as_str())
        .bind(cursor.unwrap_or(i64::MAX))
        .bind(limit + 1)
        .fetch_all(self.db.pool())
        .await?;
        let mut checkpoints: Vec<Checkpoint> = rows.into_iter().map(checkpoint_from_row).collect();
        let next = if checkpoints.len() as i64 > limit {
            checkpoints.truncate(limit as usize);
            checkpoints.last().map(|c| c.seq)
        } else {
            None
        };
        Ok((checkpoints, next))
    }

    /// Recomputes `account`'s chain from storage, a page at a time, and compares it with every
    /// checkpoint the service has kept for it. A page is hashed on every core (its entries' links
    /// are independent: [`crate::links_of`]) while the next one is read, and the links are joined
    /// in order as each page's hashing ends.
    pub async fn verify_chain(&self, account: &AccountId) -> Result<(crate::Verification, i64), AuditError> {
        let kept: Vec<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_checkpoints WHERE account_id = $1 ORDER BY seq")
                .bind(account.as_str())
                .fetch_all(self.db.pool())
                .await?;
        let kept_count = kept.len() as i64;
        let mut verifier = ChainVerifier::new().with_checkpoints(kept.iter().map(|(seq, hash)| (*seq, hash.as_str())));
        if let Some(reader) = self.db.sqlite_reader()? {
            let account = account.clone();
            let pages_read = self.pages_read.clone();
            let verifier =
                tokio::task::spawn_blocking(move || verify_on_this_thread(&reader, &account, verifier, &pages_read))
                    .await
                    .map_err(|_| InfraError::Internal("verifying the chain failed"))??;
            return Ok((verifier.finish(), kept_count));
        }
        let mut page = self.chain_rows(account, 0).await?;
        while !page.is_empty() {
            let last_seq = page.last().map_or(0, |entry| entry.seq);
            let hashing = tokio::task::spawn_blocking(move || {
                crate::links_of(&page, |entry, buf| {
                    Link::of(&entry.fields(), &entry.prev_hash, &entry.hash, buf)
                })
            });
            let (links, following) = tokio::join!(hashing, self.chain_rows(account, last_seq));
            let links = links.map_err(|_| InfraError::Internal("hashing a page of the chain failed"))?;
            if !verifier.check_links(&links) {
                break;
            }
            page = following?;
        }
        Ok((verifier.finish(), kept_count))
    }

    /// A page of `account`'s chain after `after_seq`, row by row (PostgreSQL's driver reads rows
    /// on the calling task; building one text of the page in the database costs it more).
    async fn chain_rows(&self, account: &AccountId, after_seq: i64) -> Result<Vec<crate::StoredEntry>, AuditError> {
        let rows: Vec<crate::store::EntryRow> = sqlx::query_as(
            "SELECT account_id, seq, event_id, event_type, time_ms, actor, subject, decision_id, data, prev_hash, \
             hash FROM audit_entries WHERE account_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(account.as_str())
        .bind(after_seq)
        .bind(CHAIN_PAGE)
        .fetch_all(self.db.pool())
        .await?;
        self.pages_read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        rows.into_iter().map(crate::store::entry_from_row).collect()
    }
}

/// Entries of a chain read for verification at once: enough that reading and hashing a page take
/// far longer than the hand-offs between them, few enough to hold (a few MiB).
const CHAIN_PAGE: i64 = 10_000;

/// Verifies `account`'s chain read through `reader` on this thread, a page at a time: while
/// another thread hashes a page, this one reads the next.
fn verify_on_this_thread(
    reader: &rusqlite::Connection,
    account: &AccountId,
    mut verifier: ChainVerifier,
    pages_read: &AtomicU64,
) -> Result<ChainVerifier, AuditError> {
    let mut statement = reader
        .prepare(
            "SELECT seq, time_ms, event_id, event_type, actor, subject, decision_id, data, prev_hash, hash \
             FROM audit_entries WHERE account_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )
        .map_err(StorageError::from)?;
    let mut read_page = |after_seq: i64| -> Result<PageText, AuditError> {
        pages_read.fetch_add(1, Ordering::Relaxed);
        let mut page = PageText::default();
        let mut rows = statement
            .query(rusqlite::params![account.as_str(), after_seq, CHAIN_PAGE])
            .map_err(StorageError::from)?;
        while let Some(row) = rows.next().map_err(StorageError::from)? {
            page.push(row).map_err(StorageError::from)?;
        }
        Ok(page)
    };
    std::thread::scope(|scope| {
        let mut page = read_page(0)?;
        while let Some(last_seq) = page.last_seq() {
            let hashing = scope.spawn(move || page.links(account));
            let next = read_page(last_seq);
            let links = hashing
                .join()
                .map_err(|_| InfraError::Internal("hashing a page of the chain failed"))?;
            if !verifier.check_links(&links) {
                break;
            }
            page = next?;
        }
        Ok(verifier)
    })
}

/// A page of a chain as read: every text column of every entry in one buffer, so reading a page
/// allocates a few times, not ten times an entry.
#[derive(Default)]
struct PageText {
    text: String,
    entries: Vec<EntrySpans>,
}

/// One entry of a [`PageText`]: its numbers, and where each text column lies in the buffer
/// (event_id, event_type, actor, subject, decision_id, data, prev_hash, hash).
struct EntrySpans {
    seq: i64,
    time_ms: i64,
    columns: [std::ops::Range<usize>; 8],
}

impl PageText {
    fn push(&mut self, row: &rusqlite::Row<'_>) -> rusqlite::Result<()> {
        let mut columns: [std::ops::Range<usize>; 8] = Default::default();
        for (index, column) in columns.iter_mut().enumerate() {
            let start = self.text.len();
            self.text.push_str(row.get_ref(index + 2)?.as_str()?);
            *column = start..self.text.len();
        }
        self.entries.push(EntrySpans {
            seq: row.get(0)?,
            time_ms: row.get(1)?,
            columns,
        });
        Ok(())
    }

    fn last_seq(&self) -> Option<i64> {
        self.entries.last().map(|entry| entry.seq)
    }

    /// The page's links, hashed on every core.
    fn links(&self, account: &AccountId) -> Vec<Link> {
        crate::links_of(&self.entries, |entry, buf| {
            let [event_id, event_type, actor, subject, decision_id, data, prev_hash, hash] =
                entry.columns.clone().map(|span| &self.text[span]);
            let fields = EntryFields {
                account_id: account.as_str(),
                seq: entry.seq,
                event_id,
                event_type,
                time_ms: entry.time_ms,
                actor,
                subject,
                decision_id,
                data_json: data,
            };
            Link::of(&fields, prev_hash, hash, buf)
        })
    }
}
