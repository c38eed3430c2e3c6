//! Per-account policy settings: today, the effect a token request gets when no active policy matches.
//!
//! The default is **allow**. An account starts with no policies, and Latchkey's token API must work
//! for it out of the box (as AuthRAI's does): a token is already bounded by the scopes, audience and
//! lifetime asked for, and by the agent being active. Policies then carve out what is denied,
//! throttled or held. An account that wants the opposite posture (nothing without a policy allowing
//! it) sets `deny`, and writes allow rules for what its agents may do.

use latchkey_events::{Envelope, catalogue::PolicySettingsUpdated};
use latchkey_ids::AccountId;
use latchkey_storage::{now_ms, sqlx};

use crate::{EVENT_SOURCE, Policy, PolicyError, engine::Effect};

/// The effect when no active policy matches a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DefaultEffect {
    #[default]
    Allow,
    Deny,
}

impl DefaultEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "allow" => Some(Self::Allow),
            "deny" => Some(Self::Deny),
            _ => None,
        }
    }

    /// The engine's effect.
    pub fn effect(self) -> Effect {
        match self {
            Self::Allow => Effect::Allow,
            Self::Deny => Effect::Deny,
        }
    }
}

/// An account's policy settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicySettings {
    pub default_effect: DefaultEffect,
    /// 0 while the account has never changed them.
    pub updated_at_ms: i64,
}

impl Policy {
    /// The account's settings, or the defaults if it never changed them.
    pub async fn settings(&self, account: &AccountId) -> Result<PolicySettings, PolicyError> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT default_effect, updated_at FROM policy_settings WHERE account_id = $1")
                .bind(account.as_str())
                .fetch_optional(self.db.pool())
                .await?;
        let Some((effect, updated_at_ms)) = row else {
            return Ok(PolicySettings::default());
        };
        // Only `update_settings` writes the column, always from `DefaultEffect::as_str`; anything else
        // reads as deny, so a damaged row can only make evaluation stricter.
        let default_effect = DefaultEffect::parse(&effect).unwrap_or(DefaultEffect::Deny);
        Ok(PolicySettings {
            default_effect,
            updated_at_ms,
        })
    }

    /// Sets the account's default effect (`allow` or `deny`), with a `policy.settings_updated` event
    /// when it changes.
    pub async fn update_settings(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        default_effect: &str,
    ) -> Result<PolicySettings, PolicyError> {
        let default_effect = DefaultEffect::parse(default_effect)
            .ok_or_else(|| PolicyError::field("default_effect", "must be \"allow\" or \"deny\""))?;
        let before = self.settings(account).await?;
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO policy_settings (account_id, default_effect, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (account_id) DO UPDATE SET default_effect = excluded.default_effect, \
             updated_at = excluded.updated_at",
        )
        .bind(account.as_str())
        .bind(default_effect.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if before.default_effect != default_effect {
            let event = PolicySettingsUpdated {
                default_effect: default_effect.as_str().to_owned(),
            };
            self.outbox
                .enqueue(&mut tx, &Envelope::new(EVENT_SOURCE, account.as_str(), actor, &event))
                .await?;
        }
        self.outbox.commit(tx).await?;
        self.cache.invalidate(account.as_str());
        Ok(PolicySettings {
            default_effect,
            updated_at_ms: now,
        })
    }
}
