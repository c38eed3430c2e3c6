//! Console sessions (docs/console.md): a person signs in to the web console with an account
//! credential, and the gateway keeps the session here, server-side, so that every gateway replica
//! honours it and a sign-out holds on all of them at once. The session's token (`lk_cs_…`, the
//! cookie) is shown once; only its SHA-256 is stored, as an API key's is. Every start and sign-out
//! commits together with its event; a session that ends otherwise ends silently.
//!
//! A session ends, whichever comes first: when the person signs out (of it, or of every session of
//! the account); `console_session_idle_secs` after its last recorded use;
//! `console_session_max_secs` after it began; when the credential that signed in stops being valid
//! (the API key deleted; the certificate revoked, deleted or expired); or when it is its account's
//! oldest and a 51st begins.

mod grpc;
mod stored;

use latchkey_events::{
    Envelope,
    catalogue::{ConsoleSessionEnded, ConsoleSessionStarted},
};
use latchkey_ids::{AccountId, ApiKeyId, CertificateId, ConsoleSessionId};
use latchkey_server::{InfraError, stored_id};
use latchkey_storage::{Backend, now_ms, sqlx};
use tokio_util::sync::CancellationToken;

use crate::{AgentToken, AgentTokenConfig, AgentTokenError, EVENT_SOURCE, certificates::looks_like_jwt, secrets};

pub(crate) use grpc::{session_to_pb, started_to_pb};
use stored::StoredSession;

/// The most sessions an account holds at once: starting one more ends its oldest.
pub const MAX_SESSIONS_PER_ACCOUNT: i64 = 50;
/// A session's last use is written at most this often (or every quarter of the idle timeout, if
/// that is shorter), so a busy console page does not write on every request. The price: a session
/// may end up to this long before `idle` has passed since its very last use.
const TOUCH_INTERVAL_MS: i64 = 60_000;
/// How often sessions that ended by time are removed (resolving or starting removes them too).
const PRUNE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// The lifetimes of `[agent_token]`, in milliseconds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SessionSettings {
    idle_ms: i64,
    max_ms: i64,
}

impl SessionSettings {
    /// From settings [`AgentTokenConfig::validate`] accepted (so the products cannot overflow).
    pub(crate) fn new(config: &AgentTokenConfig) -> Self {
        let ms = |secs: u64| i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        Self {
            idle_ms: ms(config.console_session_idle_secs),
            max_ms: ms(config.console_session_max_secs),
        }
    }

    /// How old the stored last use must be before a use is written again.
    fn touch_after_ms(self) -> i64 {
        TOUCH_INTERVAL_MS.min(self.idle_ms / 4)
    }
}

/// Who signed in: the credential a session lives and dies with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsoleActor {
    ApiKey(ApiKeyId),
    Certificate(CertificateId),
}

impl ConsoleActor {
    pub fn as_str(&self) -> &str {
        match self {
            Self::ApiKey(id) => id.as_str(),
            Self::Certificate(id) => id.as_str(),
        }
    }

    /// The actor of a stored session: a certificate's id, else an API key's.
    fn parse(stored: String) -> Result<Self, AgentTokenError> {
        match CertificateId::parse(&stored) {
            Ok(certificate) => Ok(Self::Certificate(certificate)),
            Err(_) => Ok(Self::ApiKey(stored_id(stored)?)),
        }
    }
}

/// A live session as the gateway sees it: never its token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleSession {
    pub id: ConsoleSessionId,
    pub account_id: AccountId,
    pub actor: ConsoleActor,
    /// The account's plan, resolved against the deployment's plans.
    pub plan: String,
    pub created_at_ms: i64,
    /// When it ends unless used again: its last recorded use plus the idle timeout.
    pub idle_expires_at_ms: i64,
    /// When it ends regardless.
    pub expires_at_ms: i64,
}

/// A session just started, with the token the caller sees once.
pub struct StartedConsoleSession {
    pub token: String,
    pub session: ConsoleSession,
}

impl std::fmt::Debug for StartedConsoleSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartedConsoleSession")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// Why sessions were ended, as `console.session_ended` names it.
const SIGNED_OUT: &str = "signed_out";
const SIGNED_OUT_EVERYWHERE: &str = "signed_out_everywhere";

fn envelope<E: latchkey_events::DomainEvent>(account: &AccountId, actor: &str, event: &E) -> Envelope {
    Envelope::new(EVENT_SOURCE, account.as_str(), Some(actor), event)
}

impl AgentToken {
    /// Signs a person in: authenticates `credential` (an account API key, or a certificate JWT,
    /// which this uses up) as every door does, and starts a session of its account, ending the
    /// account's oldest if it already holds [`MAX_SESSIONS_PER_ACCOUNT`]. A bad credential is
    /// [`AgentTokenError::Unauthenticated`], whatever is wrong with it.
    pub async fn start_console_session(&self, credential: &str) -> Result<StartedConsoleSession, AgentTokenError> {
        let (account_id, actor, plan) = if looks_like_jwt(credential) {
            let principal = self.authenticate_certificate_jwt(credential).await?;
            let actor = ConsoleActor::Certificate(principal.certificate_id);
            (principal.account_id, actor, principal.plan)
        } else {
            let principal = self.authenticate_api_key(credential).await?;
            (
                principal.account_id,
                ConsoleActor::ApiKey(principal.api_key_id),
                principal.plan,
            )
        };
        let token = secrets::new_console_session_token().ok_or_else(|| {
            tracing::error!("the operating system's random generator failed; no console session token");
            AgentTokenError::Infra(InfraError::Internal("no randomness for a console session token"))
        })?;
        let mut tx = self.db.begin_write().await?;
        let newest = self.make_room(&mut tx, &account_id).await?;
        // Strictly after the account's newest, so "the oldest" is exact even within a millisecond.
        let created_at_ms = now_ms().max(newest + 1);
        let session = ConsoleSession {
            id: ConsoleSessionId::new(),
            account_id,
            actor,
            plan,
            created_at_ms,
            idle_expires_at_ms: created_at_ms.saturating_add(self.console_sessions.idle_ms),
            expires_at_ms: created_at_ms.saturating_add(self.console_sessions.max_ms),
        };
        sqlx::query(
            "INSERT INTO console_sessions (id, account_id, actor_id, token_hash, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $5, $6)",
        )
        .bind(session.id.as_str())
        .bind(session.account_id.as_str())
        .bind(session.actor.as_str())
        .bind(secrets::secret_hash(&token))
        .bind(session.created_at_ms)
        .bind(session.expires_at_ms)
        .execute(&mut *tx)
        .await?;
        let event = ConsoleSessionStarted {
            session_id: session.id.to_string(),
            actor_id: session.actor.as_str().to_owned(),
        };
        self.outbox
            .enqueue(&mut tx, &envelope(&session.account_id, session.actor.as_str(), &event))
            .await?;
        self.outbox.commit(tx).await?;
        Ok(StartedConsoleSession { token, session })
    }

    /// Makes room for one more session of `account` in `tx`: removes its sessions that ended by
    /// time, then its oldest beyond [`MAX_SESSIONS_PER_ACCOUNT`] − 1. Answers when its newest
    /// remaining session began (0 for none). On PostgreSQL, starts of one account queue here, so
    /// two at once cannot both find room.
    async fn make_room(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        account: &AccountId,
    ) -> Result<i64, AgentTokenError> {
        if self.db.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(format!("console_sessions:{}", account.as_str()))
                .execute(&mut **tx)
                .await?;
        }
        let now = now_ms();
        sqlx::query("DELETE FROM console_sessions WHERE account_id = $1 AND (expires_at <= $2 OR last_seen_at < $3)")
            .bind(account.as_str())
            .bind(now)
            .bind(now - self.console_sessions.idle_ms)
            .execute(&mut **tx)
            .await?;
        let (count, newest): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(MAX(created_at), 0) AS BIGINT) FROM console_sessions WHERE account_id = $1",
        )
        .bind(account.as_str())
        .fetch_one(&mut **tx)
        .await?;
        let excess = count - (MAX_SESSIONS_PER_ACCOUNT - 1);
        if excess > 0 {
            sqlx::query(
                "DELETE FROM console_sessions WHERE id IN (SELECT id FROM console_sessions WHERE account_id = $1 \
                 ORDER BY created_at, id LIMIT $2)",
            )
            .bind(account.as_str())
            .bind(excess)
            .execute(&mut **tx)
            .await?;
        }
        Ok(newest)
    }

    /// The live session `token` names. Unknown, malformed, ended by time or by its credential: all
    /// [`AgentTokenError::Unauthenticated`] (a malformed token without a query; an ended session's
    /// row is removed then). A use is recorded when the stored one is older than a minute.
    pub async fn resolve_console_session(&self, token: &str) -> Result<ConsoleSession, AgentTokenError> {
        if !secrets::looks_like_console_session_token(token) {
            return Err(AgentTokenError::Unauthenticated);
        }
        let stored = StoredSession::by_token(self.db.pool(), token)
            .await?
            .ok_or(AgentTokenError::Unauthenticated)?;
        let now = now_ms();
        if !stored.is_live(self.console_sessions, now) {
            // A failure to tidy up must not turn a refusal into an error: the prune task retries.
            if let Err(error) = sqlx::query("DELETE FROM console_sessions WHERE id = $1")
                .bind(&stored.id)
                .execute(self.db.pool())
                .await
            {
                tracing::warn!(%error, "cannot remove an ended console session; the prune task will");
            }
            return Err(AgentTokenError::Unauthenticated);
        }
        let mut last_seen = stored.last_seen_at;
        if now - last_seen > self.console_sessions.touch_after_ms() {
            // Conditional, so of two replicas recording the same minute's use one writes.
            let touched =
                sqlx::query("UPDATE console_sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1")
                    .bind(now)
                    .bind(&stored.id)
                    .execute(self.db.pool())
                    .await;
            match touched {
                Ok(_) => last_seen = now,
                // The session stays valid; its idle clock runs from the use last recorded.
                Err(error) => tracing::warn!(%error, "cannot record a console session's use"),
            }
        }
        stored.into_session(&self.plans, self.console_sessions, last_seen)
    }

    /// Signs out of the session `token` names, and with `everywhere` out of every other session
    /// of its account; answers how many live sessions ended and announces them in one
    /// `console.session_ended`. A token that names no live session ends nothing (its ended row is
    /// removed) and is no error.
    pub async fn end_console_session(&self, token: &str, everywhere: bool) -> Result<u32, AgentTokenError> {
        if !secrets::looks_like_console_session_token(token) {
            return Ok(0);
        }
        let mut tx = self.db.begin_write().await?;
        let Some(stored) = StoredSession::by_token(&mut *tx, token).await? else {
            tx.rollback().await?;
            return Ok(0);
        };
        sqlx::query("DELETE FROM console_sessions WHERE id = $1")
            .bind(&stored.id)
            .execute(&mut *tx)
            .await?;
        let now = now_ms();
        if !stored.is_live(self.console_sessions, now) {
            tx.commit().await?;
            return Ok(0);
        }
        let mut ended = vec![stored.id.clone()];
        if everywhere {
            // Of the others, those already ended by time are removed without being counted.
            let others: Vec<(String, i64, i64)> = sqlx::query_as(
                "DELETE FROM console_sessions WHERE account_id = $1 RETURNING id, last_seen_at, expires_at",
            )
            .bind(&stored.account_id)
            .fetch_all(&mut *tx)
            .await?;
            let idle_ms = self.console_sessions.idle_ms;
            ended.extend(
                others
                    .into_iter()
                    .filter(|(_, last_seen, expires)| now < *expires && now <= last_seen.saturating_add(idle_ms))
                    .map(|(id, _, _)| id),
            );
        }
        let account: AccountId = stored_id(stored.account_id)?;
        let event = ConsoleSessionEnded {
            session_ids: ended,
            reason: if everywhere { SIGNED_OUT_EVERYWHERE } else { SIGNED_OUT }.to_owned(),
        };
        self.outbox
            .enqueue(&mut tx, &envelope(&account, &stored.actor_id, &event))
            .await?;
        self.outbox.commit(tx).await?;
        Ok(u32::try_from(event.session_ids.len()).unwrap_or(u32::MAX))
    }

    /// Removes the sessions `actor` started in `account`, in the transaction that deletes or
    /// revokes it (resolving refuses them anyway; this keeps them from holding places).
    pub(crate) async fn end_console_sessions_of(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        account: &AccountId,
        actor: &str,
    ) -> Result<(), AgentTokenError> {
        sqlx::query("DELETE FROM console_sessions WHERE account_id = $1 AND actor_id = $2")
            .bind(account.as_str())
            .bind(actor)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Removes every session that ended by time at `now_ms`, answering how many.
    pub async fn prune_console_sessions(&self, now_ms: i64) -> Result<u64, AgentTokenError> {
        let pruned = sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1 OR last_seen_at < $2")
            .bind(now_ms)
            .bind(now_ms - self.console_sessions.idle_ms)
            .execute(self.db.pool())
            .await?;
        Ok(pruned.rows_affected())
    }

    /// Prunes ended sessions every ten minutes, until `shutdown`.
    pub(crate) async fn prune_console_sessions_periodically(self, shutdown: CancellationToken) {
        let mut interval = tokio::time::interval(PRUNE_INTERVAL);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = interval.tick() => {
                    if let Err(error) = self.prune_console_sessions(now_ms()).await {
                        tracing::warn!(%error, "cannot remove ended console sessions; retrying later");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
