//! The deployment's own key material, sealed in the vault. agent-token's signing keys and the audit
//! service's checkpoint keys are vault secrets of [`SYSTEM_ACCOUNT`], so those services' tables keep
//! only a key id and a vault version: a backup of their databases can sign nothing. The root key never
//! leaves the vault process; what comes back is one opened secret, held in a zeroizing buffer.
//!
//! The vault may come up after the services that need it (`latchkey dev` starts it after them; in
//! the mesh it is a process of its own), so [`retry_while_unavailable`] waits for it.

use std::{future::Future, time::Duration};

use latchkey_proto::vault::v1::{GetSecretRequest, PutSecretRequest, vault_service_client::VaultServiceClient};
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use zeroize::Zeroizing;

use latchkey_storage::{Db, sqlx};

use crate::{MeshChannel, infra_error::SqlxError, with_account};

/// The account the services' own secrets live in. Real account ids are `acct_` + 16 characters of
/// a lowercase base32 alphabet (agent-token makes every one of them), and mesh calls for an account
/// carry an id that agent-token issued, so this id can never be a real account's. It is safe in gRPC
/// metadata and in a NATS subject token, and the vault keeps only the system namespaces under it.
pub use latchkey_ids::SYSTEM_ACCOUNT;

/// The first wait after an unreachable vault; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Why a system secret could not be sealed or opened. Never carries secret bytes.
#[derive(Debug, thiserror::Error)]
pub enum SystemSecretError {
    /// The vault did not answer (not up yet, restarting, overloaded): try again later.
    #[error("the vault cannot be reached ({0:?})")]
    Unavailable(Code),
    #[error("the vault holds no secret {0}")]
    NotFound(String),
    /// The vault already holds a different secret under this id.
    #[error("the vault holds another secret under {0}")]
    Conflict(String),
    #[error("the vault answered {version} for {secret_id}, not the version {expected} recorded")]
    WrongVersion {
        secret_id: String,
        version: u64,
        expected: u64,
    },
    #[error("the vault refused ({code:?}): {message}")]
    Refused { code: Code, message: String },
}

impl SystemSecretError {
    /// True when waiting for the vault may help.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    fn from_status(status: &tonic::Status, secret_id: &str) -> Self {
        match status.code() {
            // Connection refused (UNAVAILABLE) or dropped (tonic's UNKNOWN "transport error": the
            // vault itself answers every error with a documented code), a deadline, or a vault
            // shedding load.
            Code::Unavailable
            | Code::Unknown
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::ResourceExhausted
            | Code::Aborted => Self::Unavailable(status.code()),
            Code::NotFound => Self::NotFound(secret_id.to_owned()),
            code => Self::Refused {
                code,
                message: status.message().to_owned(),
            },
        }
    }
}

/// A secret opened from the vault. `Debug` never shows it.
pub struct OpenedSecret {
    pub plaintext: Zeroizing<Vec<u8>>,
    pub version: u64,
}

impl std::fmt::Debug for OpenedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedSecret")
            .field("plaintext", &"<redacted>")
            .field("version", &self.version)
            .finish()
    }
}

/// A vault client for [`SYSTEM_ACCOUNT`]'s secrets. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SystemSecrets {
    vault: VaultServiceClient<MeshChannel>,
}

impl SystemSecrets {
    pub fn new(vault: VaultServiceClient<MeshChannel>) -> Self {
        Self { vault }
    }

    /// Seals `plaintext` as `secret_id`, once: when the vault already holds that secret (another
    /// instance sealed the same key first, or a start crashed before it recorded the version), its
    /// version is answered if it holds exactly these bytes, and [`SystemSecretError::Conflict`] if
    /// not. A secret is never overwritten. Sealed write-only: only an internal use opens it.
    pub async fn seal_once(&self, secret_id: &str, plaintext: &[u8]) -> Result<u64, SystemSecretError> {
        let request = with_account(
            PutSecretRequest {
                secret_id: secret_id.to_owned(),
                plaintext: plaintext.to_vec(),
                write_only: true,
                expected_version: Some(0),
            },
            SYSTEM_ACCOUNT,
            None,
        );
        match self.vault.clone().put_secret(request).await {
            Ok(stored) => Ok(stored.into_inner().secret.map(|meta| meta.version).unwrap_or_default()),
            Err(status) if status.code() == Code::FailedPrecondition => {
                let existing = self.open(secret_id).await?;
                if bool::from(existing.plaintext.as_slice().ct_eq(plaintext)) {
                    Ok(existing.version)
                } else {
                    Err(SystemSecretError::Conflict(secret_id.to_owned()))
                }
            }
            Err(status) => Err(SystemSecretError::from_status(&status, secret_id)),
        }
    }

    /// Opens the current version of `secret_id`.
    pub async fn open(&self, secret_id: &str) -> Result<OpenedSecret, SystemSecretError> {
        let request = with_account(
            GetSecretRequest {
                secret_id: secret_id.to_owned(),
                internal_use: true,
            },
            SYSTEM_ACCOUNT,
            None,
        );
        let mut opened = self
            .vault
            .clone()
            .get_secret(request)
            .await
            .map_err(|status| SystemSecretError::from_status(&status, secret_id))?
            .into_inner();
        Ok(OpenedSecret {
            plaintext: Zeroizing::new(std::mem::take(&mut opened.plaintext)),
            version: opened.secret.map(|meta| meta.version).unwrap_or_default(),
        })
    }

    /// Opens `secret_id` at `expected`, the version recorded when it was sealed. Another version
    /// means the secret was replaced since: it is refused.
    pub async fn open_version(&self, secret_id: &str, expected: u64) -> Result<OpenedSecret, SystemSecretError> {
        let opened = self.open(secret_id).await?;
        if opened.version != expected {
            return Err(SystemSecretError::WrongVersion {
                secret_id: secret_id.to_owned(),
                version: opened.version,
                expected,
            });
        }
        Ok(opened)
    }
}

/// A service's table of its own keys, each sealed in the vault: rows of `kid`, `seed` and
/// `vault_version`. Rows written before keys were sealed hold the seed itself with version 0; a start
/// seals such a seed ([`SystemSecrets::seal_once`]) and then clears it here.
#[derive(Clone, Copy, Debug)]
pub struct SealedKeyTable {
    /// The table's name: a constant of the service, never input.
    pub table: &'static str,
    /// What its keys are, for the log ("signing key").
    pub what: &'static str,
}

impl SealedKeyTable {
    /// Empties row `kid`'s plaintext seed and records that the vault holds it as `version`, unless
    /// another instance did so first: the row changes only while its version is still 0, so
    /// instances racing on one row leave the first one's version.
    pub async fn clear_plaintext(&self, db: &Db, kid: &str, version: u64) -> Result<(), SqlxError> {
        let cleared = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {} SET seed = $1, vault_version = $2 WHERE kid = $3 AND vault_version = 0",
            self.table
        )))
        .bind(Vec::<u8>::new())
        .bind(version as i64)
        .bind(kid)
        .execute(db.pool())
        .await?;
        if cleared.rows_affected() == 1 {
            tracing::info!(
                kid,
                version,
                "sealed a plaintext {} in the vault and cleared it from the database",
                self.what
            );
        }
        Ok(())
    }
}

/// Runs `attempt` until it answers anything but "the vault is unavailable" (as `unavailable` tells),
/// waiting 100 ms, doubling to 5 s, between tries and logging each wait. Answers `None` when
/// `shutdown` is cancelled first.
pub async fn retry_while_unavailable<T, E, F, Fut>(
    what: &'static str,
    shutdown: &CancellationToken,
    unavailable: impl Fn(&E) -> bool,
    mut attempt: F,
) -> Option<Result<T, E>>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut tries = 1_u32;
    loop {
        let outcome = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return None,
            outcome = attempt() => outcome,
        };
        match outcome {
            Err(error) if unavailable(&error) => {
                tracing::warn!(
                    what,
                    tries,
                    retry_in_ms = backoff.as_millis() as u64,
                    error = %error,
                    "waiting for the vault"
                );
            }
            outcome => {
                if tries > 1 {
                    tracing::info!(what, tries, "the vault answered");
                }
                return Some(outcome);
            }
        }
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
        tries += 1;
    }
}
