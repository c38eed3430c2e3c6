//! Secrets: sealed, stored, opened, listed and removed. Every query names the account, so one account
//! can never read or touch another's secrets. Writes are compare-and-swap on the version, and a
//! write to a provider credential commits together with its `credential.updated` event.

use std::collections::HashSet;

use latchkey_errors::{ApiError, FieldError};
use latchkey_events::{Envelope, catalogue::CredentialUpdated};
use latchkey_ids::AccountId;
use latchkey_server::InfraError;
use latchkey_storage::{Db, now_ms, sqlx};
use zeroize::Zeroizing;

use crate::{EVENT_SOURCE, Vault, VaultError, envelope::Sealed};

/// The largest secret the vault stores.
pub const MAX_SECRET_BYTES: usize = 64 * 1024;

/// The namespaces an account's secret id starts with (see the proto): `<namespace>/<name>`.
const NAMESPACES: [&str; 4] = ["credential", "oauth-app", "connection", "webhook"];

/// The namespaces of the deployment's own keys (agent-token's signing keys, the audit service's
/// checkpoint keys), accepted for the system account ([`AccountId::system`]) alone, which accepts nothing else.
const SYSTEM_NAMESPACES: [&str; 2] = ["signing-key", "audit-checkpoint-key"];

/// The namespace of provider credentials (API keys): writes there emit `credential.updated`.
const CREDENTIAL_NAMESPACE: &str = "credential/";

/// Characters in a secret id's name; the longest name.
const MAX_NAME_LEN: usize = 200;

/// A text secret shorter than this shows no last four characters: they would give away too much.
const MIN_LEN_FOR_LAST4: usize = 12;

/// Attempts of a write without `expected_version` before a concurrent writer's wins are reported.
const WRITE_ATTEMPTS: usize = 8;

/// One secret to write.
pub struct NewSecret {
    pub secret_id: String,
    pub plaintext: Zeroizing<Vec<u8>>,
    /// Marks the secret write-only (sticky: a secret once write-only stays so).
    pub write_only: bool,
    /// Compare-and-swap: write only if the current version is this (0: only if absent).
    pub expected_version: Option<u64>,
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSecret")
            .field("secret_id", &self.secret_id)
            .field("plaintext", &"<redacted>")
            .field("write_only", &self.write_only)
            .field("expected_version", &self.expected_version)
            .finish()
    }
}

/// What the vault tells about a secret without opening it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretMetadata {
    pub secret_id: String,
    pub version: u64,
    pub write_only: bool,
    /// The last four characters of a text secret of at least 12 characters, else empty.
    pub last4: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// An opened secret. The plaintext is wiped when this is dropped; `Debug` never shows it.
pub struct SecretValue {
    pub plaintext: Zeroizing<Vec<u8>>,
    pub metadata: SecretMetadata,
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretValue")
            .field("plaintext", &"<redacted>")
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// Checks a secret id of `account`: `<namespace>/<name>` with a namespace of the account's kind
/// (the system namespaces for the system account, the others for real accounts) and a name of
/// letters, digits and `._:@-`. `field` is the name the caller knows the id by.
pub(crate) fn validate_secret_id(account: &AccountId, secret_id: &str, field: &str) -> Result<(), FieldError> {
    let Some((namespace, name)) = secret_id.split_once('/') else {
        return Err(FieldError::new(field, "must be <namespace>/<name>"));
    };
    let namespaces: &[&str] = if account.is_system() {
        &SYSTEM_NAMESPACES
    } else {
        &NAMESPACES
    };
    if !namespaces.contains(&namespace) {
        return Err(FieldError::new(
            field,
            format!("unknown namespace; expected one of {}", namespaces.join(", ")),
        ));
    }
    let name_ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '@' | '-'));
    if !name_ok {
        return Err(FieldError::new(
            field,
            format!("the name after the namespace must be 1 to {MAX_NAME_LEN} letters, digits or ._:@-"),
        ));
    }
    Ok(())
}

/// The last four characters of a text secret long enough to show them.
fn last4_of(plaintext: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(plaintext) else {
        return String::new();
    };
    let count = text.chars().count();
    if count < MIN_LEN_FOR_LAST4 || text.chars().any(char::is_control) {
        return String::new();
    }
    text.chars().skip(count - 4).collect()
}

/// The provider of a credential secret id, if it is one.
fn credential_provider(secret_id: &str) -> Option<&str> {
    secret_id.strip_prefix(CREDENTIAL_NAMESPACE)
}

fn validate_writes(account: &AccountId, secrets: &[NewSecret]) -> Result<(), VaultError> {
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    let single = secrets.len() == 1;
    for (index, secret) in secrets.iter().enumerate() {
        let prefix = if single {
            String::new()
        } else {
            format!("secrets[{index}].")
        };
        if let Err(error) = validate_secret_id(account, &secret.secret_id, &format!("{prefix}secret_id")) {
            errors.push(error);
        } else if !seen.insert(secret.secret_id.as_str()) {
            errors.push(FieldError::new(
                format!("{prefix}secret_id"),
                "is written twice in one request",
            ));
        }
        if secret.plaintext.is_empty() {
            errors.push(FieldError::new(format!("{prefix}plaintext"), "must not be empty"));
        } else if secret.plaintext.len() > MAX_SECRET_BYTES {
            errors.push(FieldError::new(
                format!("{prefix}plaintext"),
                format!("must be at most {MAX_SECRET_BYTES} bytes"),
            ));
        }
    }
    if secrets.is_empty() {
        errors.push(FieldError::new("secrets", "must name at least one secret"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(VaultError::Invalid(ApiError::validation(errors)))
    }
}

type SecretRow = (i64, i64, String, Vec<u8>, Vec<u8>, i64, i64);

/// The outcome of one write attempt.
enum Attempt {
    Written(Vec<SecretMetadata>),
    /// A concurrent writer changed a secret between read and write; try again.
    Raced,
}

impl Vault {
    /// Seals and stores a new version of each secret, all or none. With `expected_version`, a
    /// secret whose current version differs fails the whole write with a version conflict.
    pub async fn put_secrets(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        secrets: Vec<NewSecret>,
    ) -> Result<Vec<SecretMetadata>, VaultError> {
        validate_writes(account, &secrets)?;
        for _ in 0..WRITE_ATTEMPTS {
            if let Attempt::Written(written) = self.try_put(account, actor, &secrets).await? {
                return Ok(written);
            }
        }
        Err(VaultError::Contended)
    }

    /// One transaction writing every secret, each with a compare-and-swap on the version it read.
    async fn try_put(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        secrets: &[NewSecret],
    ) -> Result<Attempt, VaultError> {
        let data_key = self
            .data_key(account, true)
            .await?
            .ok_or_else(|| VaultError::RootKeys("the account's data key could not be created".to_owned()))?;
        let mut tx = self.db.begin_write().await?;
        let mut written = Vec::with_capacity(secrets.len());
        let now = now_ms();
        for secret in secrets {
            let current: Option<(i64, i64, i64)> = sqlx::query_as(
                "SELECT version, write_only, created_at FROM vault_secrets WHERE account_id = $1 AND secret_id = $2",
            )
            .bind(account.as_str())
            .bind(&secret.secret_id)
            .fetch_optional(&mut *tx)
            .await?;
            let current_version = current.map_or(0, |(version, _, _)| version as u64);
            if let Some(expected) = secret.expected_version
                && expected != current_version
            {
                return Err(VaultError::VersionConflict {
                    expected,
                    current: current_version,
                });
            }
            let version = current_version + 1;
            let write_only = secret.write_only || current.is_some_and(|(_, write_only, _)| write_only != 0);
            let created_at = current.map_or(now, |(_, _, created_at)| created_at);
            let last4 = last4_of(&secret.plaintext);
            let sealed = data_key.seal(account.as_str(), &secret.secret_id, version, &secret.plaintext);
            let stored = if current.is_some() {
                sqlx::query(
                    "UPDATE vault_secrets SET version = $3, write_only = $4, last4 = $5, nonce = $6, \
                     ciphertext = $7, updated_at = $8 WHERE account_id = $1 AND secret_id = $2 AND version = $9",
                )
                .bind(account.as_str())
                .bind(&secret.secret_id)
                .bind(version as i64)
                .bind(i64::from(write_only))
                .bind(&last4)
                .bind(sealed.nonce)
                .bind(sealed.ciphertext)
                .bind(now)
                .bind(current_version as i64)
                .execute(&mut *tx)
                .await?
            } else {
                sqlx::query(
                    "INSERT INTO vault_secrets (account_id, secret_id, version, write_only, last4, nonce, \
                     ciphertext, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
                     ON CONFLICT (account_id, secret_id) DO NOTHING",
                )
                .bind(account.as_str())
                .bind(&secret.secret_id)
                .bind(version as i64)
                .bind(i64::from(write_only))
                .bind(&last4)
                .bind(sealed.nonce)
                .bind(sealed.ciphertext)
                .bind(now)
                .execute(&mut *tx)
                .await?
            };
            if stored.rows_affected() == 0 {
                // Another writer got there between our read and our write (PostgreSQL; SQLite's
                // write transaction excludes it). A caller's compare-and-swap lost; otherwise retry.
                drop(tx);
                if let Some(expected) = secret.expected_version {
                    return Err(VaultError::VersionConflict {
                        expected,
                        current: expected + 1,
                    });
                }
                return Ok(Attempt::Raced);
            }
            if let Some(provider) = credential_provider(&secret.secret_id) {
                let event = CredentialUpdated {
                    provider: provider.to_owned(),
                    version,
                    write_only,
                    removed: false,
                };
                self.outbox
                    .enqueue(&mut tx, &Envelope::new(EVENT_SOURCE, account.as_str(), actor, &event))
                    .await?;
            }
            written.push(SecretMetadata {
                secret_id: secret.secret_id.clone(),
                version,
                write_only,
                last4,
                created_at_ms: created_at,
                updated_at_ms: now,
            });
        }
        self.outbox.commit(tx).await?;
        Ok(Attempt::Written(written))
    }

    /// Opens the current version of a secret. A write-only secret opens only for an `internal_use`.
    pub async fn get_secret(
        &self,
        account: &AccountId,
        secret_id: &str,
        internal_use: bool,
    ) -> Result<SecretValue, VaultError> {
        validate_secret_id(account, secret_id, "secret_id")
            .map_err(|error| VaultError::Invalid(ApiError::validation(vec![error])))?;
        const SQL: &str = "SELECT version, write_only, last4, nonce, ciphertext, created_at, updated_at FROM \
                           vault_secrets WHERE account_id = $1 AND secret_id = $2";
        // Every `/tokens/fetch` opens a secret: on SQLite, read on this thread (docs/storage.md).
        let row: Option<SecretRow> = match self.db.read_one_here(SQL, (account.as_str(), secret_id)) {
            Some(row) => row.map_err(InfraError::from)?,
            None => {
                sqlx::query_as(SQL)
                    .bind(account.as_str())
                    .bind(secret_id)
                    .fetch_optional(self.db.pool())
                    .await?
            }
        };
        let (version, write_only, last4, nonce, ciphertext, created_at_ms, updated_at_ms) =
            row.ok_or(VaultError::NotFound)?;
        if write_only != 0 && !internal_use {
            return Err(VaultError::WriteOnly);
        }
        let tampered = || VaultError::Tampered {
            account_id: account.to_string(),
            what: format!("secret {secret_id}"),
        };
        let data_key = self.data_key(account, false).await?.ok_or_else(tampered)?;
        let version = u64::try_from(version).map_err(|_| tampered())?;
        let plaintext = data_key
            .open(account.as_str(), secret_id, version, &Sealed { nonce, ciphertext })
            .map_err(|_| tampered())?;
        Ok(SecretValue {
            plaintext,
            metadata: SecretMetadata {
                secret_id: secret_id.to_owned(),
                version,
                write_only: write_only != 0,
                last4,
                created_at_ms,
                updated_at_ms,
            },
        })
    }

    /// Removes a secret (every version of it).
    pub async fn delete_secret(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        secret_id: &str,
    ) -> Result<(), VaultError> {
        validate_secret_id(account, secret_id, "secret_id")
            .map_err(|error| VaultError::Invalid(ApiError::validation(vec![error])))?;
        let mut tx = self.db.begin_write().await?;
        let removed: Option<(i64,)> =
            sqlx::query_as("DELETE FROM vault_secrets WHERE account_id = $1 AND secret_id = $2 RETURNING write_only")
                .bind(account.as_str())
                .bind(secret_id)
                .fetch_optional(&mut *tx)
                .await?;
        let (write_only,) = removed.ok_or(VaultError::NotFound)?;
        if let Some(provider) = credential_provider(secret_id) {
            let event = CredentialUpdated {
                provider: provider.to_owned(),
                version: 0,
                write_only: write_only != 0,
                removed: true,
            };
            self.outbox
                .enqueue(&mut tx, &Envelope::new(EVENT_SOURCE, account.as_str(), actor, &event))
                .await?;
        }
        self.outbox.commit(tx).await?;
        Ok(())
    }

    /// Metadata (never plaintext) of the account's secrets whose id starts with `prefix`, by id.
    pub async fn list_secrets(&self, account: &AccountId, prefix: &str) -> Result<Vec<SecretMetadata>, VaultError> {
        if prefix.len() > 256 {
            return Err(VaultError::field("prefix", "must be at most 256 characters"));
        }
        list_secrets(&self.db, account, prefix).await
    }
}

async fn list_secrets(db: &Db, account: &AccountId, prefix: &str) -> Result<Vec<SecretMetadata>, VaultError> {
    // An account holds few secrets: filtering the prefix here keeps the SQL portable (no LIKE
    // escaping, no collation differences between the backends).
    let rows: Vec<(String, i64, i64, String, i64, i64)> = sqlx::query_as(
        "SELECT secret_id, version, write_only, last4, created_at, updated_at FROM vault_secrets \
         WHERE account_id = $1 ORDER BY secret_id",
    )
    .bind(account.as_str())
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .filter(|(secret_id, ..)| secret_id.starts_with(prefix))
        .map(
            |(secret_id, version, write_only, last4, created_at_ms, updated_at_ms)| SecretMetadata {
                secret_id,
                version: version as u64,
                write_only: write_only != 0,
                last4,
                created_at_ms,
                updated_at_ms,
            },
        )
        .collect())
}

#[cfg(test)]
mod tests;
