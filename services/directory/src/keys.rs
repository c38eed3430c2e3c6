//! Service API keys: `lk_svc_` and 32 base62 characters, shown once, kept as their SHA-256. A key
//! belongs to one service and authenticates only that service's API (`/api/service/*`); with
//! `service:read` alone it may only read.

use latchkey_events::catalogue::{ServiceKeyCreated, ServiceKeyDeleted};
use latchkey_ids::{AccountId, ServiceId, ServiceKeyId};
use latchkey_server::secrets::{self, SERVICE_KEY_PREFIX};
use latchkey_storage::{now_ms, sqlx};

use crate::{Directory, DirectoryError, ServiceAt, services::locate, validate};

/// What a key may do in its service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    /// Every `GET` of the service API.
    Read,
    /// Everything else: creating, changing and deleting users and subscriptions, changing the
    /// service's info, and asking for provider tokens.
    Write,
}

impl Permission {
    pub const ALL: [Self; 2] = [Self::Read, Self::Write];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "service:read",
            Self::Write => "service:write",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|permission| permission.as_str() == text)
    }
}

fn permissions_of(stored: &str) -> Vec<Permission> {
    stored.split_whitespace().filter_map(Permission::parse).collect()
}

/// A service API key as listed: never its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceKey {
    pub id: ServiceKeyId,
    pub name: String,
    /// `lk_svc_` and the secret's first four characters, to tell keys apart.
    pub prefix: String,
    pub permissions: Vec<Permission>,
    pub created_at_ms: i64,
}

/// A key just created, with its secret (answered this once). `Debug` hides the secret.
pub struct CreatedServiceKey {
    pub key: ServiceKey,
    pub secret: String,
}

impl std::fmt::Debug for CreatedServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedServiceKey")
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Whom a presented key acts for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPrincipal {
    pub account: AccountId,
    pub service: ServiceId,
    pub key: ServiceKeyId,
    pub permissions: Vec<Permission>,
}

/// The shown part of a secret: the prefix and four characters (~24 bits: tells keys apart,
/// guesses nothing).
fn shown_prefix(secret: &str) -> String {
    secret.chars().take(SERVICE_KEY_PREFIX.len() + 4).collect()
}

impl Directory {
    /// Creates a key for the service at `at`. `permissions` empty: both.
    pub async fn create_service_key(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        at: ServiceAt<'_>,
        name: &str,
        permissions: &[String],
    ) -> Result<CreatedServiceKey, DirectoryError> {
        let name = validate::name("name", name)?;
        let mut granted = Vec::new();
        for (index, text) in permissions.iter().enumerate() {
            let permission = Permission::parse(text).ok_or_else(|| {
                DirectoryError::field(&format!("permissions[{index}]"), "service:read or service:write")
            })?;
            if !granted.contains(&permission) {
                granted.push(permission);
            }
        }
        if granted.is_empty() {
            granted = Permission::ALL.to_vec();
        }
        granted.sort();
        let secret = secrets::new_secret(SERVICE_KEY_PREFIX);
        let key = ServiceKey {
            id: ServiceKeyId::new(),
            name,
            prefix: shown_prefix(&secret),
            permissions: granted,
            created_at_ms: now_ms(),
        };
        let stored_permissions = key
            .permissions
            .iter()
            .map(|permission| permission.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let mut tx = self.db.begin_write().await?;
        let service = locate(&mut *tx, account, at).await?;
        sqlx::query(
            "INSERT INTO directory_service_keys (id, account_id, service_id, name, prefix, secret_hash, permissions, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(key.id.as_str())
        .bind(account.as_str())
        .bind(service.id.as_str())
        .bind(&key.name)
        .bind(&key.prefix)
        .bind(secrets::secret_hash(&secret))
        .bind(&stored_permissions)
        .bind(key.created_at_ms)
        .execute(&mut *tx)
        .await?;
        let event = ServiceKeyCreated {
            key_id: key.id.to_string(),
            service_id: service.id.to_string(),
            name: key.name.clone(),
            prefix: key.prefix.clone(),
        };
        self.announce(&mut tx, account, actor, &event).await?;
        self.outbox.commit(tx).await?;
        Ok(CreatedServiceKey { key, secret })
    }

    /// The service's keys, oldest first.
    pub async fn list_service_keys(
        &self,
        account: &AccountId,
        at: ServiceAt<'_>,
    ) -> Result<Vec<ServiceKey>, DirectoryError> {
        let service = self.service(account, at).await?;
        let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT id, name, prefix, permissions, created_at FROM directory_service_keys \
             WHERE account_id = $1 AND service_id = $2 ORDER BY created_at, id",
        )
        .bind(account.as_str())
        .bind(service.id.as_str())
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter()
            .map(|(id, name, prefix, permissions, created_at_ms)| {
                Ok(ServiceKey {
                    id: latchkey_server::stored_id(id)?,
                    name,
                    prefix,
                    permissions: permissions_of(&permissions),
                    created_at_ms,
                })
            })
            .collect()
    }

    /// Deletes the key `key` of the service at `at`: from the commit on it authenticates nothing
    /// (gateways drop it from their caches on `service_key.deleted`).
    pub async fn delete_service_key(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        at: ServiceAt<'_>,
        key: &ServiceKeyId,
    ) -> Result<(), DirectoryError> {
        let mut tx = self.db.begin_write().await?;
        let service = locate(&mut *tx, account, at).await?;
        let secret_hash: Option<String> = sqlx::query_scalar(
            "DELETE FROM directory_service_keys WHERE id = $1 AND service_id = $2 AND account_id = $3 \
             RETURNING secret_hash",
        )
        .bind(key.as_str())
        .bind(service.id.as_str())
        .bind(account.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let secret_hash = secret_hash.ok_or(DirectoryError::KeyNotFound)?;
        let event = ServiceKeyDeleted {
            key_id: key.to_string(),
            service_id: service.id.to_string(),
            secret_hash,
        };
        self.announce(&mut tx, account, actor, &event).await?;
        self.outbox.commit(tx).await?;
        Ok(())
    }

    /// Whether the actor of a service API call may do it in `service`: a service key (`skey_…`,
    /// as the gateway names it) must still exist, belong to that service, and hold `access`. Any
    /// other actor acts with the account's own credential, which reaches all its services. Checked
    /// here, where the keys are, so a gateway's cached view of a key never widens what it may do.
    pub async fn admit(
        &self,
        account: &AccountId,
        service: &ServiceId,
        actor: Option<&str>,
        access: Permission,
    ) -> Result<(), DirectoryError> {
        let Some(key) = actor.and_then(|actor| ServiceKeyId::try_from(actor.to_owned()).ok()) else {
            return Ok(());
        };
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT service_id, permissions FROM directory_service_keys WHERE id = $1 AND account_id = $2",
        )
        .bind(key.as_str())
        .bind(account.as_str())
        .fetch_optional(self.db.pool())
        .await?;
        match row {
            None => Err(DirectoryError::Unauthenticated),
            Some((own, _)) if own != service.as_str() => Err(DirectoryError::ServiceNotFound),
            Some((_, permissions)) if !permissions_of(&permissions).contains(&access) => Err(
                DirectoryError::Forbidden(format!("this service API key does not hold {}", access.as_str())),
            ),
            Some(_) => Ok(()),
        }
    }

    /// Whose key `secret` is. A malformed, unknown or deleted key is [`DirectoryError::Unauthenticated`]
    /// alike; a malformed one is refused before any lookup.
    pub async fn authenticate_service_key(&self, secret: &str) -> Result<KeyPrincipal, DirectoryError> {
        if !secrets::looks_like_service_key(secret) {
            return Err(DirectoryError::Unauthenticated);
        }
        let presented = secrets::secret_hash(secret);
        let row: Option<(String, String, String, String, String)> = sqlx::query_as(
            "SELECT id, account_id, service_id, permissions, secret_hash FROM directory_service_keys \
             WHERE secret_hash = $1",
        )
        .bind(&presented)
        .fetch_optional(self.db.pool())
        .await?;
        match row {
            Some((key, account, service, permissions, stored)) if secrets::hashes_match(&stored, &presented) => {
                Ok(KeyPrincipal {
                    account: latchkey_server::stored_id(account)?,
                    service: latchkey_server::stored_id(service)?,
                    key: latchkey_server::stored_id(key)?,
                    permissions: permissions_of(&permissions),
                })
            }
            _ => Err(DirectoryError::Unauthenticated),
        }
    }
}

#[cfg(test)]
mod tests;
