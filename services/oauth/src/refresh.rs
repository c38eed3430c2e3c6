//! Race-free refresh. Any number of fetches, in any number of oauth instances, may find the same
//! connection's token close to expiry; exactly one refreshes it at the provider:
//!
//! 1. Each reads the token set (vault version `v`). Fresh enough: done.
//! 2. Each tries to take the connection's lease: one conditional UPDATE (`lease_until < now`), which
//!    the database grants to exactly one of them (SQLite and PostgreSQL alike).
//! 3. The winner re-reads the vault: if the version moved past `v`, someone refreshed between its
//!    read and its lease, so it releases and uses theirs. Otherwise it refreshes at the provider and
//!    writes the new set with `expected_version = v` (compare-and-swap: a rotated refresh token can
//!    only replace the one it was derived from), then records the new version and releases the
//!    lease in one transaction, with its `connection.refreshed` event.
//! 4. The others poll the row until its `token_version` moves, its status says the grant is gone,
//!    or the lease is free again (the holder failed or crashed and its lease ran out), then loop.
//!
//! So the provider sees one refresh per expiry, every caller gets the winner's token, and the new
//! refresh token is stored before anyone can read the set again.
//!
//! The winner's refresh runs as a task of its own, not in the fetch that won: a fetch that goes
//! away (its client hung up, its deadline passed) does not stop the refresh half-way, so the new
//! set is stored and the lease released when the provider answers, and the fetches waiting on the
//! row get the token then, not when the lease runs out.

use std::time::Duration;

use latchkey_events::{
    Envelope,
    catalogue::{ConnectionRefreshFailed, ConnectionRefreshed},
};
use latchkey_ids::{AccountId, ConnectionId, LeaseId};
use latchkey_storage::{now_ms, sqlx};

use crate::{
    Connection, EVENT_SOURCE, Oauth, OauthError, Provider,
    provider::TokenFailure,
    token_set::{TokenSet, secret_id},
    vault::Written,
};

/// How often a waiting fetch looks at the row.
const POLL: Duration = Duration::from_millis(15);

impl Oauth {
    /// The connection's token set, refreshed first when it is within the margin of expiry.
    pub(crate) async fn usable_tokens(
        &self,
        account: &AccountId,
        provider: &Provider,
        connection: &Connection,
    ) -> Result<TokenSet, OauthError> {
        let secret = secret_id(&connection.id);
        let margin_ms = i64::try_from(self.config.refresh_margin_secs).unwrap_or(60) * 1000;
        let lease_ms = i64::try_from(self.config.refresh_lease_secs).unwrap_or(60) * 1000;
        let deadline = now_ms() + lease_ms + 10_000;
        let not_connected = || OauthError::IntegrationNotFound(provider.code.clone());
        loop {
            let opened = self
                .vault
                .get(account, &secret, true)
                .await?
                .ok_or_else(not_connected)?;
            let tokens = TokenSet::from_json(&opened.plaintext, &connection.id)?;
            let now = now_ms();
            if !tokens.needs_refresh(now, margin_ms) {
                return Ok(tokens);
            }
            if tokens.refresh_token.is_none() {
                return if tokens.is_expired(now) {
                    Err(OauthError::TokenExpired(provider.code.clone()))
                } else {
                    Ok(tokens)
                };
            }
            let holder = LeaseId::new();
            if self.take_lease(account, &connection.id, &holder, now, lease_ms).await? {
                let current = self.vault.get(account, &secret, true).await?;
                match current {
                    Some(current) if current.version == opened.version => {
                        return self
                            .refresh_apart(account, provider, connection, tokens, current.version, holder)
                            .await;
                    }
                    _ => {
                        self.release_lease(account, &connection.id, &holder).await?;
                        continue;
                    }
                }
            }
            if now > deadline {
                return Err(OauthError::RefreshTimedOut(connection.id.to_string()));
            }
            self.wait_for_refresh(account, &connection.id, opened.version, &provider.code, deadline)
                .await?;
        }
    }

    /// Takes the lease when nobody holds it (or the holder's ran out). Exactly one caller wins.
    async fn take_lease(
        &self,
        account: &AccountId,
        connection_id: &ConnectionId,
        holder: &LeaseId,
        now: i64,
        lease_ms: i64,
    ) -> Result<bool, OauthError> {
        let taken = sqlx::query(
            "UPDATE oauth_connections SET lease_holder = $1, lease_until = $2 WHERE account_id = $3 AND id = $4 \
             AND lease_until < $5 AND status = 'active'",
        )
        .bind(holder.as_str())
        .bind(now + lease_ms)
        .bind(account.as_str())
        .bind(connection_id.as_str())
        .bind(now)
        .execute(self.db.pool())
        .await?
        .rows_affected();
        Ok(taken == 1)
    }

    async fn release_lease(
        &self,
        account: &AccountId,
        connection_id: &ConnectionId,
        holder: &LeaseId,
    ) -> Result<(), OauthError> {
        sqlx::query(
            "UPDATE oauth_connections SET lease_holder = '', lease_until = 0 WHERE account_id = $1 AND id = $2 \
             AND lease_holder = $3",
        )
        .bind(account.as_str())
        .bind(connection_id.as_str())
        .bind(holder.as_str())
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Waits until the row says something happened: a new token version, a refused grant, the lease
    /// free again, or the connection gone.
    async fn wait_for_refresh(
        &self,
        account: &AccountId,
        connection_id: &ConnectionId,
        seen_version: u64,
        provider: &str,
        deadline: i64,
    ) -> Result<(), OauthError> {
        let seen = i64::try_from(seen_version).unwrap_or(i64::MAX);
        loop {
            tokio::time::sleep(POLL).await;
            let row: Option<(String, i64, i64)> = sqlx::query_as(
                "SELECT status, token_version, lease_until FROM oauth_connections WHERE account_id = $1 AND id = $2",
            )
            .bind(account.as_str())
            .bind(connection_id.as_str())
            .fetch_optional(self.db.pool())
            .await?;
            let Some((status, version, lease_until)) = row else {
                return Err(OauthError::IntegrationNotFound(provider.to_owned()));
            };
            if status != "active" {
                return Err(OauthError::TokenExpired(provider.to_owned()));
            }
            let now = now_ms();
            if version != seen || lease_until < now {
                return Ok(());
            }
            if now > deadline {
                return Err(OauthError::RefreshTimedOut(connection_id.to_string()));
            }
        }
    }

    /// [`refresh_holding_lease`](Self::refresh_holding_lease) as a task of its own (see the
    /// module's doc); answers its outcome while the caller still waits for it.
    async fn refresh_apart(
        &self,
        account: &AccountId,
        provider: &Provider,
        connection: &Connection,
        tokens: TokenSet,
        version: u64,
        holder: LeaseId,
    ) -> Result<TokenSet, OauthError> {
        let (outcome_sender, outcome) = tokio::sync::oneshot::channel();
        let connection_id = connection.id.to_string();
        let (oauth, account, provider, connection) =
            (self.clone(), account.clone(), provider.clone(), connection.clone());
        self.refreshes.spawn("refresh", async move {
            let refreshed = oauth
                .refresh_holding_lease(&account, &provider, &connection, tokens, version, &holder)
                .await;
            // The fetch that started it may be gone: then the others read the stored set.
            let _ = outcome_sender.send(refreshed);
        });
        outcome
            .await
            .unwrap_or_else(|_| Err(OauthError::RefreshTimedOut(connection_id)))
    }

    async fn refresh_holding_lease(
        &self,
        account: &AccountId,
        provider: &Provider,
        connection: &Connection,
        tokens: TokenSet,
        version: u64,
        holder: &LeaseId,
    ) -> Result<TokenSet, OauthError> {
        let app = self.providers.app(&self.vault, account, &provider.code).await;
        let endpoints = self.providers.endpoints(provider).await;
        let (app, endpoints) = match (app, endpoints) {
            (Ok(app), Ok(endpoints)) => (app, endpoints),
            (Err(error), _) | (_, Err(error)) => {
                self.release_lease(account, &connection.id, holder).await?;
                return Err(error);
            }
        };
        match self.providers.refresh(&endpoints, &app, &tokens, now_ms()).await {
            Ok(refreshed) => {
                let written = self
                    .vault
                    .put(
                        account,
                        &secret_id(&connection.id),
                        refreshed.to_json().to_vec(),
                        Some(version),
                    )
                    .await;
                match written {
                    Ok(Written::Stored(new_version)) => {
                        self.record_refresh(account, provider, connection, &tokens, &refreshed, new_version, holder)
                            .await?;
                        Ok(refreshed)
                    }
                    Ok(Written::Conflict) => {
                        // Only a holder whose lease ran out during the provider call gets here: the
                        // newer set stays; this caller serves it.
                        tracing::warn!(connection = %connection.id, "refresh lost its lease; keeping the newer token set");
                        self.release_lease(account, &connection.id, holder).await?;
                        let current = self
                            .vault
                            .get(account, &secret_id(&connection.id), true)
                            .await?
                            .ok_or_else(|| OauthError::IntegrationNotFound(provider.code.clone()))?;
                        TokenSet::from_json(&current.plaintext, &connection.id)
                    }
                    Err(error) => {
                        self.release_lease(account, &connection.id, holder).await?;
                        Err(error)
                    }
                }
            }
            Err(TokenFailure::Refused { error }) => {
                self.record_refresh_failure(account, provider, connection, &error, holder)
                    .await?;
                Err(OauthError::TokenExpired(provider.code.clone()))
            }
            Err(TokenFailure::Unreachable { reason }) => {
                self.release_lease(account, &connection.id, holder).await?;
                if tokens.is_expired(now_ms()) {
                    Err(OauthError::Upstream {
                        provider: provider.code.clone(),
                        reason,
                    })
                } else {
                    // Still valid for a little while: better than an error.
                    tracing::warn!(provider = %provider.code, reason = %reason, "refresh failed; serving the current token");
                    Ok(tokens)
                }
            }
        }
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one call site; a struct would only rename them"
    )]
    async fn record_refresh(
        &self,
        account: &AccountId,
        provider: &Provider,
        connection: &Connection,
        before: &TokenSet,
        after: &TokenSet,
        new_version: u64,
        holder: &LeaseId,
    ) -> Result<(), OauthError> {
        let mut tx = self.db.begin_write().await?;
        // The CASEs read the old lease_holder: the lease is released only if it is still ours.
        sqlx::query(
            "UPDATE oauth_connections SET token_version = $1, expires_at = $2, scopes = $3, updated_at = $4, \
             lease_until = CASE WHEN lease_holder = $5 THEN 0 ELSE lease_until END, \
             lease_holder = CASE WHEN lease_holder = $5 THEN '' ELSE lease_holder END \
             WHERE account_id = $6 AND id = $7 AND token_version < $1",
        )
        .bind(i64::try_from(new_version).unwrap_or(i64::MAX))
        .bind(after.expires_at_ms)
        .bind(after.scopes.join(" "))
        .bind(now_ms())
        .bind(holder.as_str())
        .bind(account.as_str())
        .bind(connection.id.as_str())
        .execute(&mut *tx)
        .await?;
        let event = ConnectionRefreshed {
            connection_id: connection.id.to_string(),
            provider: provider.code.clone(),
            expires_at_ms: after.expires_at_ms,
            refresh_token_rotated: after.refresh_token != before.refresh_token,
        };
        self.outbox
            .enqueue(&mut tx, &Envelope::new(EVENT_SOURCE, account.as_str(), None, &event))
            .await?;
        self.outbox.commit(tx).await?;
        Ok(())
    }

    async fn record_refresh_failure(
        &self,
        account: &AccountId,
        provider: &Provider,
        connection: &Connection,
        reason: &str,
        holder: &LeaseId,
    ) -> Result<(), OauthError> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "UPDATE oauth_connections SET status = 'needs_reauthorization', lease_holder = '', lease_until = 0, \
             updated_at = $1 WHERE account_id = $2 AND id = $3 AND lease_holder = $4",
        )
        .bind(now_ms())
        .bind(account.as_str())
        .bind(connection.id.as_str())
        .bind(holder.as_str())
        .execute(&mut *tx)
        .await?;
        let event = ConnectionRefreshFailed {
            connection_id: connection.id.to_string(),
            provider: provider.code.clone(),
            reason: reason.to_owned(),
        };
        self.outbox
            .enqueue(&mut tx, &Envelope::new(EVENT_SOURCE, account.as_str(), None, &event))
            .await?;
        self.outbox.commit(tx).await?;
        Ok(())
    }
}
