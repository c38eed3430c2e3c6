//! Connections: made by the callback, read by `/tokens/fetch`, listed, and disconnected. The row
//! holds metadata only; the tokens are the vault secret `connection/<id>`.

use latchkey_events::{
    Envelope,
    catalogue::{ConnectionCreated, ConnectionRevoked},
};
use latchkey_ids::{AccountId, ConnectionId};
use latchkey_server::InfraError;
use latchkey_storage::{now_ms, sqlx};

use crate::{
    EVENT_SOURCE, Oauth, OauthError, Provider, ProviderKind,
    token_set::{TokenSet, secret_id},
    vault::Written,
};

/// A connection as listed: never a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub id: ConnectionId,
    pub provider: String,
    pub end_user_id: String,
    /// `active` or `needs_reauthorization`.
    pub status: String,
    pub scopes: Vec<String>,
    pub provider_email: String,
    pub expires_at_ms: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A usable credential. `Debug` hides it.
#[derive(Clone, Default)]
pub struct FetchedToken {
    pub access_token: String,
    pub expires_at_ms: i64,
    pub scopes: Vec<String>,
    pub provider_email: String,
    /// `oauth2`, `api_key` or `mtproto`.
    pub kind: &'static str,
    pub api_id: String,
    pub api_hash: String,
    /// The connection an OAuth token comes from; `None` for an API key or a Telegram session.
    pub connection_id: Option<ConnectionId>,
}

impl std::fmt::Debug for FetchedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchedToken")
            .field("access_token", &"<redacted>")
            .field("expires_at_ms", &self.expires_at_ms)
            .field("kind", &self.kind)
            .field("connection_id", &self.connection_id)
            .finish_non_exhaustive()
    }
}

pub(crate) struct StoredTokens<'a> {
    pub(crate) provider: &'a str,
    pub(crate) end_user_id: &'a str,
    pub(crate) email: &'a str,
    pub(crate) tokens: &'a TokenSet,
}

pub(crate) type ConnectionRow = (String, String, String, String, String, String, i64, i64, i64, i64);

pub(crate) const CONNECTION_COLUMNS: &str =
    "id, provider, end_user_id, status, provider_email, scopes, expires_at, token_version, created_at, updated_at";

/// The connection a row holds. An id that no longer parses is stored data gone bad: an internal
/// error, never a panic.
pub(crate) fn connection_of(row: &ConnectionRow) -> Result<Connection, OauthError> {
    let (id, provider, end_user_id, status, provider_email, scopes, expires_at_ms, _, created_at_ms, updated_at_ms) =
        row.clone();
    let id = ConnectionId::try_from(id).map_err(|error| OauthError::Corrupt {
        what: "a connection's id".to_owned(),
        reason: error.to_string(),
    })?;
    Ok(Connection {
        id,
        provider,
        end_user_id,
        status,
        scopes: scopes.split_whitespace().map(str::to_owned).collect(),
        provider_email,
        expires_at_ms,
        created_at_ms,
        updated_at_ms,
    })
}

impl Oauth {
    pub(crate) async fn connection_row(
        &self,
        account: &AccountId,
        provider: &str,
        end_user_id: &str,
    ) -> Result<Option<ConnectionRow>, OauthError> {
        let sql = format!(
            "SELECT {CONNECTION_COLUMNS} FROM oauth_connections WHERE account_id = $1 AND provider = $2 AND \
             end_user_id = $3"
        );
        // Every `/tokens/fetch` reads this row: on SQLite, read on this thread (docs/storage.md).
        if let Some(row) = self.db.read_one_here(&sql, (account.as_str(), provider, end_user_id)) {
            return Ok(row.map_err(InfraError::from)?);
        }
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(account.as_str())
            .bind(provider)
            .bind(end_user_id)
            .fetch_optional(self.db.pool())
            .await?)
    }

    /// Stores a fresh token set: a new connection, or the existing one of the same provider and end
    /// user made again (re-authorization replaces its tokens and makes it active).
    pub(crate) async fn store_connection(
        &self,
        account: &AccountId,
        stored: StoredTokens<'_>,
    ) -> Result<ConnectionId, OauthError> {
        let existing = self
            .connection_row(account, stored.provider, stored.end_user_id)
            .await?
            .map(|row| connection_of(&row))
            .transpose()?;
        let id = existing
            .as_ref()
            .map_or_else(ConnectionId::new, |connection| connection.id.clone());
        let version = match self
            .vault
            .put(account, &secret_id(&id), stored.tokens.to_json().to_vec(), None)
            .await?
        {
            Written::Stored(version) => version,
            // Only a compare-and-swap write can conflict; this one is unconditional.
            Written::Conflict => {
                return Err(OauthError::Corrupt {
                    what: format!("token set of {id}"),
                    reason: "an unconditional write conflicted".to_owned(),
                });
            }
        };
        let now = now_ms();
        let scopes = stored.tokens.scopes.join(" ");
        let mut tx = self.db.begin_write().await?;
        if existing.is_some() {
            sqlx::query(
                "UPDATE oauth_connections SET status = 'active', provider_email = $1, scopes = $2, expires_at = $3, \
                 token_version = $4, lease_holder = '', lease_until = 0, updated_at = $5 WHERE account_id = $6 \
                 AND id = $7",
            )
            .bind(stored.email)
            .bind(&scopes)
            .bind(stored.tokens.expires_at_ms)
            .bind(i64::try_from(version).unwrap_or(i64::MAX))
            .bind(now)
            .bind(account.as_str())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "INSERT INTO oauth_connections (id, account_id, provider, end_user_id, status, provider_email, scopes, \
                 expires_at, token_version, lease_holder, lease_until, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $8, '', 0, $9, $9)",
            )
            .bind(id.as_str())
            .bind(account.as_str())
            .bind(stored.provider)
            .bind(stored.end_user_id)
            .bind(stored.email)
            .bind(&scopes)
            .bind(stored.tokens.expires_at_ms)
            .bind(i64::try_from(version).unwrap_or(i64::MAX))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let event = ConnectionCreated {
            connection_id: id.to_string(),
            provider: stored.provider.to_owned(),
            end_user_id: stored.end_user_id.to_owned(),
            scopes: stored.tokens.scopes.clone(),
            provider_email: stored.email.to_owned(),
        };
        self.outbox
            .enqueue(&mut tx, &Envelope::new(EVENT_SOURCE, account.as_str(), None, &event))
            .await?;
        self.outbox.commit(tx).await?;
        Ok(id)
    }

    /// The active connection of `end_user_id` to an OAuth provider, with its tokens refreshed first
    /// when close to expiry. A connection the provider stopped honouring is `TokenExpired`.
    pub(crate) async fn active_tokens(
        &self,
        account: &AccountId,
        provider: &Provider,
        end_user_id: &str,
    ) -> Result<(Connection, TokenSet), OauthError> {
        let row = self
            .connection_row(account, &provider.code, end_user_id)
            .await?
            .ok_or_else(|| OauthError::IntegrationNotFound(provider.code.clone()))?;
        let connection = connection_of(&row)?;
        if connection.status != "active" {
            return Err(OauthError::TokenExpired(provider.code.clone()));
        }
        let tokens = self.usable_tokens(account, provider, &connection).await?;
        Ok((connection, tokens))
    }

    /// A usable credential for `provider`: an OAuth token (refreshed first when close to expiry),
    /// the account's API key, or Telegram's session.
    pub async fn fetch_token(
        &self,
        account: &AccountId,
        provider: &str,
        end_user_id: &str,
    ) -> Result<FetchedToken, OauthError> {
        let provider = self.provider(provider)?;
        match provider.kind {
            ProviderKind::ApiKey => {
                let key = self
                    .vault
                    .get(account, &format!("credential/{}", provider.code), false)
                    .await?
                    .ok_or_else(|| OauthError::IntegrationNotFound(provider.code.clone()))?;
                Ok(FetchedToken {
                    access_token: String::from_utf8_lossy(&key.plaintext).into_owned(),
                    kind: "api_key",
                    ..FetchedToken::default()
                })
            }
            ProviderKind::Mtproto => {
                let (session, _) = self.open_mtproto_session(account, &provider.code).await?;
                Ok(FetchedToken {
                    access_token: session.session_string.clone(),
                    kind: "mtproto",
                    api_id: session.api_id.clone(),
                    api_hash: session.api_hash.clone(),
                    ..FetchedToken::default()
                })
            }
            ProviderKind::Oauth2 => {
                let (connection, tokens) = self.active_tokens(account, provider, end_user_id).await?;
                Ok(FetchedToken {
                    access_token: tokens.access_token.clone(),
                    expires_at_ms: tokens.expires_at_ms,
                    scopes: tokens.scopes.clone(),
                    provider_email: connection.provider_email,
                    kind: "oauth2",
                    connection_id: Some(connection.id),
                    ..FetchedToken::default()
                })
            }
        }
    }

    /// Revokes the grant at the provider where it can, deletes the tokens and the connection.
    pub async fn disconnect(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        provider: &str,
        end_user_id: &str,
    ) -> Result<(ConnectionId, bool), OauthError> {
        let provider = self.provider(provider)?;
        let row = self
            .connection_row(account, &provider.code, end_user_id)
            .await?
            .ok_or_else(|| OauthError::IntegrationNotFound(provider.code.clone()))?;
        let id = connection_of(&row)?.id;
        let mut revoked = false;
        if let Some(opened) = self.vault.get(account, &secret_id(&id), true).await?
            && let Ok(tokens) = TokenSet::from_json(&opened.plaintext, &id)
        {
            let app = self.providers.app(&self.vault, account, &provider.code).await;
            let endpoints = self.providers.endpoints(provider).await;
            if let (Ok(app), Ok(endpoints)) = (app, endpoints) {
                revoked = self.providers.revoke(&endpoints, &app, &tokens).await;
            }
        }
        // Tokens first: a connection row without tokens reads as not connected, never the reverse.
        self.vault.delete(account, &secret_id(&id)).await?;
        let mut tx = self.db.begin_write().await?;
        sqlx::query("DELETE FROM oauth_connections WHERE account_id = $1 AND id = $2")
            .bind(account.as_str())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        let event = ConnectionRevoked {
            connection_id: id.to_string(),
            provider: provider.code.clone(),
            end_user_id: end_user_id.to_owned(),
            revoked_at_provider: revoked,
        };
        self.outbox
            .enqueue(&mut tx, &Envelope::new(EVENT_SOURCE, account.as_str(), actor, &event))
            .await?;
        self.outbox.commit(tx).await?;
        Ok((id, revoked))
    }

    /// The account's connections, optionally of one provider and/or end user.
    pub async fn list_connections(
        &self,
        account: &AccountId,
        provider: &str,
        end_user_id: &str,
    ) -> Result<Vec<Connection>, OauthError> {
        let rows: Vec<ConnectionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CONNECTION_COLUMNS} FROM oauth_connections WHERE account_id = $1 AND ($2 = '' OR provider = $2) \
             AND ($3 = '' OR end_user_id = $3) ORDER BY created_at, id"
        )))
        .bind(account.as_str())
        .bind(provider)
        .bind(end_user_id)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(connection_of).collect()
    }
}
