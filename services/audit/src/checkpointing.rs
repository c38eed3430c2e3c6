//! Taking, keeping and serving signed checkpoints; the signing keys they are made with.

use latchkey_errors::{ApiError, ErrorCode};
use latchkey_storage::{Db, is_unique_violation, now_ms, sqlx};

use crate::{
    Audit, AuditError,
    chain::ChainVerifier,
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

/// The stored checkpoint keys, creating the first on a deployment's first start. The newest signs.
pub(crate) async fn load_keys(db: &Db) -> Result<Vec<CheckpointKey>, AuditError> {
    let read = || async {
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT kid, seed FROM audit_signing_keys ORDER BY created_ms DESC, kid")
                .fetch_all(db.pool())
                .await?;
        Ok::<_, AuditError>(
            rows.into_iter()
                .filter_map(|(kid, seed)| {
                    let key = CheckpointKey::from_seed(&seed);
                    if key.is_none() {
                        tracing::error!(kid, "a stored checkpoint key is not a 32-byte seed; skipped");
                    }
                    key
                })
                .collect::<Vec<_>>(),
        )
    };
    let keys = read().await?;
    if !keys.is_empty() {
        return Ok(keys);
    }
    let key = CheckpointKey::generate();
    let stored = sqlx::query("INSERT INTO audit_signing_keys (kid, seed, created_ms) VALUES ($1, $2, $3)")
        .bind(key.kid())
        .bind(key.seed().to_vec())
        .bind(now_ms())
        .execute(db.pool())
        .await;
    match stored {
        Ok(_) => {}
        // Another instance starting at the same time stored its own: both are kept and published.
        Err(err) if is_unique_violation(&err) => {}
        Err(err) => return Err(err.into()),
    }
    read().await
}

impl Audit {
    /// The public JWKs of the checkpoint keys.
    pub fn checkpoint_jwks(&self) -> Vec<serde_json::Value> {
        self.keys.iter().map(CheckpointKey::public_jwk).collect()
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
            if self.store_checkpoint(&account_id, seq, &hash).await? {
                signed += 1;
            }
        }
        Ok(signed)
    }

    /// Signs `account_id`'s head now if it moved, and answers its latest checkpoint.
    pub async fn sign_checkpoint(&self, account_id: &str) -> Result<Checkpoint, AuditError> {
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_entries WHERE account_id = $1 ORDER BY seq DESC LIMIT 1")
                .bind(account_id)
                .fetch_optional(self.db.pool())
                .await?;
        let Some((seq, hash)) = head else {
            return Err(AuditError::Invalid(ApiError::new(
                ErrorCode::NotFound,
                "the audit log has no entry yet, so there is no head to sign",
            )));
        };
        let latest = self.checkpoints(account_id, 1, None).await?.0.into_iter().next();
        if latest.as_ref().is_none_or(|latest| latest.seq < seq) {
            self.store_checkpoint(account_id, seq, &hash).await?;
        }
        let latest = self.checkpoints(account_id, 1, None).await?.0.into_iter().next();
        latest.ok_or_else(|| AuditError::Invalid(ApiError::internal()))
    }

    /// Stores a signed checkpoint of `(seq, hash)`; false when one already exists at that seq.
    async fn store_checkpoint(&self, account_id: &str, seq: i64, hash: &str) -> Result<bool, AuditError> {
        let key = self.keys.first().ok_or(AuditError::NoSigningKey)?;
        let checkpoint = key.sign(account_id, seq, hash, now_ms());
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

    /// `account_id`'s checkpoints, newest first, below `cursor` (a seq), and the next page's cursor.
    pub async fn checkpoints(
        &self,
        account_id: &str,
        limit: u32,
        cursor: Option<i64>,
    ) -> Result<(Vec<Checkpoint>, Option<i64>), AuditError> {
        let limit = i64::from(limit.clamp(1, 1000));
        let rows: Vec<CheckpointRow> = sqlx::query_as(
            "SELECT account_id, seq, hash, time_ms, kid, signature FROM audit_checkpoints \
             WHERE account_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
        )
        .bind(account_id)
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

    /// Recomputes `account_id`'s chain from storage, a page at a time, and compares it with every
    /// checkpoint the service has kept for it.
    pub async fn verify_chain(&self, account_id: &str) -> Result<(crate::Verification, i64), AuditError> {
        let kept: Vec<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_checkpoints WHERE account_id = $1 ORDER BY seq")
                .bind(account_id)
                .fetch_all(self.db.pool())
                .await?;
        let kept_count = kept.len() as i64;
        let mut verifier = ChainVerifier::new().with_checkpoints(kept.iter().map(|(seq, hash)| (*seq, hash.as_str())));
        let mut entries = std::pin::pin!(self.export(account_id));
        while let Some(entry) = futures::TryStreamExt::try_next(&mut entries).await? {
            if !verifier.check(&entry.fields(), &entry.prev_hash, &entry.hash) {
                break;
            }
        }
        Ok((verifier.finish(), kept_count))
    }
}
