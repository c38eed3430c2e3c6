//! The account's plan (agent-token owns accounts, so it keeps which plan each is on), the limits on
//! what this service owns (agents, API keys, tokens per month), and moving an account to another
//! plan. Limits on what other services own are theirs to check, with the plan the gateway names
//! in each mesh call (docs/plans.md).

use chrono::{Datelike, Utc};
use latchkey_errors::{ApiError, FieldError};
use latchkey_events::{
    Envelope,
    catalogue::{PlanChanged, PlanUpgraded},
};
use latchkey_ids::AccountId;
use latchkey_server::{Limited, PlanLimits};
use latchkey_storage::sqlx::{self, Any, Transaction};

use crate::{AgentToken, AgentTokenError, EVENT_SOURCE};

/// Agents count until revoked: a paused agent can be resumed, so it keeps its place.
pub(crate) const COUNT_AGENTS: &str = "SELECT COUNT(*) FROM agents WHERE account_id = $1 AND status <> 'revoked'";
pub(crate) const COUNT_API_KEYS: &str = "SELECT COUNT(*) FROM api_keys WHERE account_id = $1";
/// Certificates count until revoked: an expired one keeps its place until it is revoked (as a paused
/// agent does until revoked), so the count does not change with the clock.
pub(crate) const COUNT_CERTIFICATES: &str =
    "SELECT COUNT(*) FROM certificates WHERE account_id = $1 AND status <> 'revoked'";
/// Every claimed domain counts, pending, verified or failed: deleting one frees its place.
pub(crate) const COUNT_DOMAINS: &str = "SELECT COUNT(*) FROM domains WHERE account_id = $1";
const COUNT_TOKENS_THIS_MONTH: &str =
    "SELECT CAST(COALESCE(SUM(issued), 0) AS BIGINT) FROM token_counts WHERE account_id = $1";

/// An account's plan and how much of each limited resource it uses, as far as this service knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountUsage {
    pub plan: String,
    pub limits: PlanLimits,
    pub agents: u64,
    pub api_keys: u64,
    pub certificates: u64,
    pub domains: u64,
    /// Tokens issued this calendar month (UTC); `None` while no plan of the deployment limits
    /// them, because then they are not counted (counting costs the issuing path a write).
    pub tokens_this_month: Option<u64>,
}

/// What [`AgentToken::set_account_plan`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanMove {
    Unchanged,
    Upgraded { from: String },
    Changed { from: String },
}

impl AgentToken {
    /// The plan `account` is on, read in `tx` (`None`: the deployment's default).
    pub(crate) async fn plan_in(
        tx: &mut Transaction<'static, Any>,
        account: &AccountId,
    ) -> Result<Option<String>, AgentTokenError> {
        Ok(Self::stored_plan(&mut **tx, account).await?.flatten())
    }

    /// The plan `account` is on, resolved against the deployment's plans.
    pub async fn account_plan(&self, account: &AccountId) -> Result<String, AgentTokenError> {
        let stored = Self::stored_plan(self.db.pool(), account).await?.flatten();
        Ok(self.plans.resolve(stored.as_deref()).to_owned())
    }

    /// The account's row as far as plans go: `None` when there is no such account, `Some(None)`
    /// when it is on the deployment's default plan.
    async fn stored_plan<'e>(
        executor: impl sqlx::Executor<'e, Database = Any>,
        account: &AccountId,
    ) -> Result<Option<Option<String>>, AgentTokenError> {
        Ok(sqlx::query_scalar("SELECT plan FROM accounts WHERE id = $1")
            .bind(account.as_str())
            .fetch_optional(executor)
            .await?)
    }

    /// Refuses one more `resource` in `account` with `PLAN_LIMIT` when its plan allows no more; a
    /// resource no plan of the deployment limits costs nothing.
    pub(crate) async fn check_plan(
        &self,
        tx: &mut Transaction<'static, Any>,
        account: &AccountId,
        resource: Limited,
        count: &'static str,
    ) -> Result<(), AgentTokenError> {
        if !self.plans.limits_anywhere(resource) {
            return Ok(());
        }
        let plan = Self::plan_in(tx, account).await?;
        self.plans
            .check(tx, self.db.backend(), account, plan.as_deref(), resource, count)
            .await?;
        Ok(())
    }

    /// Counts one issued token against the account's month, refusing it when the plan's
    /// `tokens_per_month` is used up. Only while some plan limits tokens (see [`AccountUsage`]).
    /// Whether a token issue counts against a plan's monthly tokens (some plan limits them).
    pub(crate) fn counts_issued_tokens(&self) -> bool {
        self.plans.limits_anywhere(Limited::TokensPerMonth)
    }

    pub(crate) async fn count_issued_token(
        &self,
        tx: &mut Transaction<'static, Any>,
        account: &AccountId,
    ) -> Result<(), AgentTokenError> {
        if !self.plans.limits_anywhere(Limited::TokensPerMonth) {
            return Ok(());
        }
        let month = this_month();
        let plan = Self::plan_in(tx, account).await?;
        // Older months are not usage: with them gone, the account's rows are this month's.
        clear_old_months(tx, account, &month).await?;
        self.plans
            .check(
                tx,
                self.db.backend(),
                account,
                plan.as_deref(),
                Limited::TokensPerMonth,
                COUNT_TOKENS_THIS_MONTH,
            )
            .await?;
        sqlx::query(
            "INSERT INTO token_counts (account_id, month, issued) VALUES ($1, $2, 1) \
             ON CONFLICT (account_id, month) DO UPDATE SET issued = token_counts.issued + 1",
        )
        .bind(account.as_str())
        .bind(&month)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The account's plan, limits and usage of what this service owns.
    pub async fn account_usage(&self, account: &AccountId) -> Result<AccountUsage, AgentTokenError> {
        let mut tx = self.db.pool().begin().await?;
        let stored = Self::plan_in(&mut tx, account).await?;
        let plan = self.plans.resolve(stored.as_deref()).to_owned();
        let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql).bind(account.as_str());
        let agents = count(COUNT_AGENTS).fetch_one(&mut *tx).await?;
        let api_keys = count(COUNT_API_KEYS).fetch_one(&mut *tx).await?;
        let certificates = count(COUNT_CERTIFICATES).fetch_one(&mut *tx).await?;
        let domains = count(COUNT_DOMAINS).fetch_one(&mut *tx).await?;
        let tokens_this_month = if self.plans.limits_anywhere(Limited::TokensPerMonth) {
            let issued: i64 = sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(issued), 0) AS BIGINT) FROM token_counts WHERE account_id = $1 AND month = $2",
            )
            .bind(account.as_str())
            .bind(this_month())
            .fetch_one(&mut *tx)
            .await?;
            Some(u64::try_from(issued).unwrap_or(0))
        } else {
            None
        };
        tx.commit().await?;
        Ok(AccountUsage {
            limits: self.plans.limits(Some(&plan)).clone(),
            plan,
            agents: u64::try_from(agents).unwrap_or(0),
            api_keys: u64::try_from(api_keys).unwrap_or(0),
            certificates: u64::try_from(certificates).unwrap_or(0),
            domains: u64::try_from(domains).unwrap_or(0),
            tokens_this_month,
        })
    }

    /// Moves `account` to `plan` (one the settings define), emitting `billing.plan_upgraded` when
    /// the new plan allows at least as much of everything and more of something, else
    /// `billing.plan_changed`. Moving to the plan it is on changes nothing and emits nothing.
    /// What the account already has above a lower limit stays; only new ones are refused.
    pub async fn set_account_plan(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        plan: &str,
    ) -> Result<PlanMove, AgentTokenError> {
        if !self.plans.knows(plan) {
            let known: Vec<&str> = self.plans.names().collect();
            return Err(AgentTokenError::Invalid(ApiError::validation(vec![FieldError::new(
                "plan",
                format!("no such plan; the deployment defines: {}", known.join(", ")),
            )])));
        }
        let mut tx = self.db.begin_write().await?;
        let stored = Self::stored_plan(&mut *tx, account)
            .await?
            .ok_or(AgentTokenError::AccountNotFound)?;
        let from = self.plans.resolve(stored.as_deref()).to_owned();
        if from == plan {
            return Ok(PlanMove::Unchanged);
        }
        sqlx::query("UPDATE accounts SET plan = $1 WHERE id = $2")
            .bind(plan)
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?;
        let upgrade = self
            .plans
            .limits(Some(plan))
            .is_upgrade_from(self.plans.limits(Some(&from)));
        let (account_id, from_plan, to_plan) = (account.to_string(), from.clone(), plan.to_owned());
        let envelope = if upgrade {
            let event = PlanUpgraded {
                account_id,
                from_plan,
                to_plan,
            };
            Envelope::new(EVENT_SOURCE, account.as_str(), actor, &event)
        } else {
            let event = PlanChanged {
                account_id,
                from_plan,
                to_plan,
            };
            Envelope::new(EVENT_SOURCE, account.as_str(), actor, &event)
        };
        self.outbox.enqueue(&mut tx, &envelope).await?;
        self.outbox.commit(tx).await?;
        Ok(if upgrade {
            PlanMove::Upgraded { from }
        } else {
            PlanMove::Changed { from }
        })
    }
}

/// The calendar month (UTC) tokens are counted in, `YYYY-MM`.
fn this_month() -> String {
    let now = Utc::now();
    format!("{:04}-{:02}", now.year(), now.month())
}

/// Drops the account's counts of months before `month`, so the count query reads one row.
async fn clear_old_months(
    tx: &mut Transaction<'static, Any>,
    account: &AccountId,
    month: &str,
) -> Result<(), AgentTokenError> {
    sqlx::query("DELETE FROM token_counts WHERE account_id = $1 AND month < $2")
        .bind(account.as_str())
        .bind(month)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests;
