//! Accounts and their API keys. Every query names the account it works in, so one account can
//! never read or touch another's keys; every change commits together with its event.

use latchkey_errors::{ApiError, FieldError};
use latchkey_events::{
    Envelope,
    catalogue::{AccountCreated, ApiKeyCreated, ApiKeyDeleted},
};
use latchkey_ids::{AccountId, ApiKeyId};
use latchkey_storage::{now_ms, sqlx};

use crate::plans::COUNT_API_KEYS;
use latchkey_server::Limited;
use latchkey_server::stored_id;

use crate::{
    AgentToken, AgentTokenError, EVENT_SOURCE,
    secrets::{self, API_KEY_PREFIX},
};

const MAX_NAME_LEN: usize = 100;

/// An API key as listed: never its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub name: String,
    pub prefix: String,
    pub last4: String,
    pub created_at_ms: i64,
    pub last_used_at_ms: Option<i64>,
}

/// A key just created, with the secret the caller sees once.
pub struct CreatedApiKey {
    pub key: ApiKey,
    pub secret: String,
}

impl std::fmt::Debug for CreatedApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedApiKey")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Who an API key belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub account_id: AccountId,
    pub api_key_id: ApiKeyId,
    /// The account's plan, resolved against the deployment's plans.
    pub plan: String,
}

fn validated_name(field: &str, name: &str) -> Result<String, AgentTokenError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(AgentTokenError::Invalid(ApiError::validation(vec![FieldError::new(
            field,
            format!("must be 1 to {MAX_NAME_LEN} characters"),
        )])));
    }
    Ok(name.to_owned())
}

fn new_key(name: String) -> CreatedApiKey {
    let secret = secrets::new_api_key_secret();
    CreatedApiKey {
        key: ApiKey {
            id: ApiKeyId::new(),
            name,
            prefix: API_KEY_PREFIX.to_owned(),
            last4: secrets::last4(&secret),
            created_at_ms: now_ms(),
            last_used_at_ms: None,
        },
        secret,
    }
}

impl AgentToken {
    /// Creates an account with its first API key.
    pub async fn create_account(
        &self,
        name: &str,
        key_name: &str,
    ) -> Result<(AccountId, CreatedApiKey), AgentTokenError> {
        let name = validated_name("name", name)?;
        let created = new_key(validated_name("key_name", key_name)?);
        let account = AccountId::new();
        let mut tx = self.db.begin_write().await?;
        sqlx::query("INSERT INTO accounts (id, name, created_at, plan) VALUES ($1, $2, $3, $4)")
            .bind(account.as_str())
            .bind(&name)
            .bind(now_ms())
            .bind(self.plans.default_plan())
            .execute(&mut *tx)
            .await?;
        let account_event = AccountCreated {
            account_id: account.to_string(),
            name,
        };
        self.outbox
            .enqueue(
                &mut tx,
                &Envelope::new(EVENT_SOURCE, account.as_str(), Some("system"), &account_event),
            )
            .await?;
        insert_key(
            &account,
            &mut tx,
            &self.outbox,
            Some("system"),
            &created,
            &created.secret,
        )
        .await?;
        self.outbox.commit(tx).await?;
        Ok((account, created))
    }

    /// Creates an API key in `account`.
    pub async fn create_api_key(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        name: &str,
    ) -> Result<CreatedApiKey, AgentTokenError> {
        let created = new_key(validated_name("name", name)?);
        let mut tx = self.db.begin_write().await?;
        self.check_plan(&mut tx, account, Limited::ApiKeys, COUNT_API_KEYS)
            .await?;
        insert_key(account, &mut tx, &self.outbox, actor, &created, &created.secret).await?;
        self.outbox.commit(tx).await?;
        Ok(created)
    }

    /// The account's keys, oldest first.
    pub async fn list_api_keys(&self, account: &AccountId) -> Result<Vec<ApiKey>, AgentTokenError> {
        let rows: Vec<(String, String, String, String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT id, name, prefix, last4, created_at, last_used_at FROM api_keys \
             WHERE account_id = $1 ORDER BY created_at, id",
        )
        .bind(account.as_str())
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter()
            .map(|(id, name, prefix, last4, created_at_ms, last_used_at_ms)| {
                Ok(ApiKey {
                    id: stored_id(id)?,
                    name,
                    prefix,
                    last4,
                    created_at_ms,
                    last_used_at_ms,
                })
            })
            .collect()
    }

    /// Deletes one of the account's keys; another account's key id is simply not found.
    pub async fn delete_api_key(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        key_id: &ApiKeyId,
    ) -> Result<(), AgentTokenError> {
        let mut tx = self.db.begin_write().await?;
        let secret_hash: Option<String> =
            sqlx::query_scalar("DELETE FROM api_keys WHERE account_id = $1 AND id = $2 RETURNING secret_hash")
                .bind(account.as_str())
                .bind(key_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(secret_hash) = secret_hash else {
            return Err(AgentTokenError::ApiKeyNotFound);
        };
        // The console sessions it signed in end with it.
        Self::end_console_sessions_of(&mut tx, account, key_id.as_str()).await?;
        let event = ApiKeyDeleted {
            key_id: key_id.to_string(),
            secret_hash,
        };
        self.outbox
            .enqueue(&mut tx, &Envelope::new(EVENT_SOURCE, account.as_str(), actor, &event))
            .await?;
        self.outbox.commit(tx).await?;
        Ok(())
    }

    /// Resolves a presented secret to its key and account.
    pub async fn authenticate_api_key(&self, secret: &str) -> Result<Principal, AgentTokenError> {
        if !secrets::looks_like_api_key(secret) {
            return Err(AgentTokenError::Unauthenticated);
        }
        let presented = secrets::secret_hash(secret);
        let row: Option<(String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT k.id, k.account_id, k.secret_hash, a.plan FROM api_keys k \
             JOIN accounts a ON a.id = k.account_id WHERE k.secret_hash = $1",
        )
        .bind(&presented)
        .fetch_optional(self.db.pool())
        .await?;
        match row {
            Some((api_key_id, account_id, stored, plan)) if secrets::hashes_match(&stored, &presented) => {
                // Only cache misses reach this point, so the write is rare; a failure to record
                // the use must not fail the authentication.
                let _ = sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                    .bind(now_ms())
                    .bind(&api_key_id)
                    .execute(self.db.pool())
                    .await;
                Ok(Principal {
                    account_id: stored_id(account_id)?,
                    api_key_id: stored_id(api_key_id)?,
                    plan: self.plans.resolve(plan.as_deref()).to_owned(),
                })
            }
            _ => Err(AgentTokenError::Unauthenticated),
        }
    }
}

async fn insert_key(
    account: &AccountId,
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    outbox: &latchkey_events::Outbox,
    actor: Option<&str>,
    created: &CreatedApiKey,
    secret: &str,
) -> Result<(), AgentTokenError> {
    let key = &created.key;
    sqlx::query(
        "INSERT INTO api_keys (id, account_id, name, prefix, last4, secret_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(key.id.as_str())
    .bind(account.as_str())
    .bind(&key.name)
    .bind(&key.prefix)
    .bind(&key.last4)
    .bind(secrets::secret_hash(secret))
    .bind(key.created_at_ms)
    .execute(&mut **tx)
    .await?;
    let event = ApiKeyCreated {
        key_id: key.id.to_string(),
        name: key.name.clone(),
        prefix: key.prefix.clone(),
        last4: key.last4.clone(),
    };
    outbox
        .enqueue(tx, &Envelope::new(EVENT_SOURCE, account.as_str(), actor, &event))
        .await?;
    Ok(())
}
