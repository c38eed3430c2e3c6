//! A session as stored, read together with what decides whether it still lives: its account's
//! plan, and the credential that signed in (the API key, if the account still has it; the
//! certificate's status and expiry, if the account still has it).

use latchkey_server::{Plans, stored_id};
use latchkey_storage::sqlx::{self, Any};

use super::{ConsoleActor, ConsoleSession, SessionSettings};
use crate::{AgentTokenError, secrets};

type Row = (
    String,
    String,
    String,
    i64,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

/// A `console_sessions` row with its account's plan and its actor's standing.
#[derive(Debug)]
pub(super) struct StoredSession {
    pub(super) id: String,
    pub(super) account_id: String,
    pub(super) actor_id: String,
    pub(super) created_at: i64,
    pub(super) last_seen_at: i64,
    pub(super) expires_at: i64,
    pub(super) plan: Option<String>,
    /// The API key that signed in, while the account has it.
    pub(super) api_key: Option<String>,
    /// The status and expiry of the certificate that signed in, while the account has it.
    pub(super) certificate: Option<(String, i64)>,
}

impl StoredSession {
    /// The session whose token is `token`, if any (live or not).
    pub(super) async fn by_token<'e>(
        executor: impl sqlx::Executor<'e, Database = Any>,
        token: &str,
    ) -> Result<Option<Self>, AgentTokenError> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT s.id, s.account_id, s.actor_id, s.created_at, s.last_seen_at, s.expires_at, a.plan, \
             k.id, c.status, c.expires_at \
             FROM console_sessions s JOIN accounts a ON a.id = s.account_id \
             LEFT JOIN api_keys k ON k.id = s.actor_id AND k.account_id = s.account_id \
             LEFT JOIN certificates c ON c.id = s.actor_id AND c.account_id = s.account_id \
             WHERE s.token_hash = $1",
        )
        .bind(secrets::secret_hash(token))
        .fetch_optional(executor)
        .await?;
        Ok(row.map(
            |(id, account_id, actor_id, created_at, last_seen_at, expires_at, plan, api_key, status, until)| Self {
                id,
                account_id,
                actor_id,
                created_at,
                last_seen_at,
                expires_at,
                plan,
                api_key,
                certificate: status.zip(until),
            },
        ))
    }

    /// Whether the session still lives at `now_ms`: before its absolute expiry, used within the
    /// idle timeout, and its credential still valid.
    pub(super) fn is_live(&self, settings: SessionSettings, now_ms: i64) -> bool {
        let in_time = now_ms < self.expires_at && now_ms <= self.last_seen_at.saturating_add(settings.idle_ms);
        let actor_valid = self.api_key.is_some()
            || matches!(&self.certificate, Some((status, until)) if status == "active" && *until > now_ms);
        in_time && actor_valid
    }

    /// The session as answered, its idle clock running from `last_seen_ms`.
    pub(super) fn into_session(
        self,
        plans: &Plans,
        settings: SessionSettings,
        last_seen_ms: i64,
    ) -> Result<ConsoleSession, AgentTokenError> {
        Ok(ConsoleSession {
            id: stored_id(self.id)?,
            account_id: stored_id(self.account_id)?,
            actor: ConsoleActor::parse(self.actor_id)?,
            plan: plans.resolve(self.plan.as_deref()).to_owned(),
            created_at_ms: self.created_at,
            idle_expires_at_ms: last_seen_ms.saturating_add(settings.idle_ms),
            expires_at_ms: self.expires_at,
        })
    }
}
