//! The periodic round: verified domains are checked again every `recheck_interval_secs` and lapse
//! to `failed` (`domain.failed`) when DNS answers that their record is gone or wrong; pending
//! domains older than `pending_ttl_secs` become `failed` with reason `expired`.
//!
//! Every agent-token instance runs the round; a domain is claimed for a check by moving its
//! `last_checked_at` forward with a conditional update, so two instances never check it in the
//! same round, and a status change is conditional on the status it was decided from.

use std::time::Duration;

use futures::StreamExt;
use latchkey_events::catalogue::DomainFailed;
use latchkey_ids::{AccountId, DomainId};
use latchkey_server::stored_id;
use latchkey_storage::{now_ms, sqlx};
use tokio_util::sync::CancellationToken;

use super::{
    DOMAIN_COLUMNS, DomainStatus, Reason,
    dns::{DnsChecker, DomainsConfig, DomainsConfigError},
    domain_from_row, envelope,
};
use crate::{AgentToken, AgentTokenError};

/// Rows a round reads at a time.
const BATCH: i64 = 256;
/// DNS lookups a round has in flight at once.
const CONCURRENT_CHECKS: usize = 16;
/// The round's actor in the events it emits.
const ACTOR: &str = "system";
/// The longest wait between two looks for due work, whatever the interval.
const MAX_TICK: Duration = Duration::from_secs(60);

/// The DNS checker and the round's timing, from the `[domains]` settings.
#[derive(Debug)]
pub(crate) struct DomainChecks {
    pub(crate) dns: DnsChecker,
    recheck_interval_ms: i64,
    /// 0: pending domains never expire.
    pending_ttl_ms: i64,
    tick: Duration,
}

impl DomainChecks {
    pub(crate) fn new(config: &DomainsConfig) -> Result<Self, DomainsConfigError> {
        Ok(Self::with_checker(config, DnsChecker::new(config)?))
    }

    /// The defaults of `[domains]` (the system's resolver), which need no validation.
    pub(crate) fn defaults() -> Self {
        let config = DomainsConfig::default();
        Self::with_checker(&config, DnsChecker::with_nameservers(&config, &[]))
    }

    fn with_checker(config: &DomainsConfig, dns: DnsChecker) -> Self {
        let secs_to_ms = |secs: u64| i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        Self {
            dns,
            recheck_interval_ms: secs_to_ms(config.recheck_interval_secs),
            pending_ttl_ms: secs_to_ms(config.pending_ttl_secs),
            tick: Duration::from_secs(config.recheck_interval_secs.max(1)).min(MAX_TICK),
        }
    }
}

/// What one round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DomainRound {
    /// Verified domains looked up.
    pub checked: usize,
    /// Of those, how many lapsed to `failed`.
    pub lapsed: usize,
    /// Pending domains that expired.
    pub expired: usize,
}

type DueRow = (String, String, String, String, String, String, i64, i64, i64);

impl AgentToken {
    /// Runs one round as of `now` (Unix ms): expires the pending domains created before
    /// `now - pending_ttl`, then checks every verified domain last checked at or before
    /// `now - recheck_interval`. The periodic task calls it with the clock's time; tests call it
    /// with a later one to make domains due without waiting.
    pub async fn run_domain_checks(&self, now: i64) -> Result<DomainRound, AgentTokenError> {
        let mut round = DomainRound {
            expired: self.expire_pending(now).await?,
            ..DomainRound::default()
        };
        let due_before = now.saturating_sub(self.domains.recheck_interval_ms);
        loop {
            let rows: Vec<DueRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT account_id, {DOMAIN_COLUMNS} FROM domains WHERE status = 'verified' AND last_checked_at <= $1 \
                 ORDER BY last_checked_at, id LIMIT $2"
            )))
            .bind(due_before)
            .bind(BATCH)
            .fetch_all(self.db.pool())
            .await?;
            let full = rows.len() as i64 == BATCH;
            let outcomes: Vec<Result<Option<bool>, AgentTokenError>> = futures::stream::iter(rows)
                .map(|row| self.recheck(row, now))
                .buffer_unordered(CONCURRENT_CHECKS)
                .collect()
                .await;
            for outcome in outcomes {
                if let Some(lapsed) = outcome? {
                    round.checked += 1;
                    round.lapsed += usize::from(lapsed);
                }
            }
            // Each row read was moved past `due_before` (by this round or another instance's).
            if !full {
                return Ok(round);
            }
        }
    }

    /// Checks one due domain if this round wins it: `None` when another instance did; else whether
    /// it lapsed.
    async fn recheck(&self, row: DueRow, now: i64) -> Result<Option<bool>, AgentTokenError> {
        let (account, id, name, status, challenge, reason, created, verified, checked) = row;
        let account: AccountId = stored_id(account)?;
        let domain = domain_from_row((id, name, status, challenge, reason, created, verified, checked))?;
        let claimed = sqlx::query(
            "UPDATE domains SET last_checked_at = $1 WHERE id = $2 AND status = 'verified' AND last_checked_at = $3",
        )
        .bind(now)
        .bind(domain.id.as_str())
        .bind(domain.last_checked_at_ms)
        .execute(self.db.pool())
        .await?
        .rows_affected();
        if claimed == 0 {
            return Ok(None);
        }
        let outcome = self.domains.dns.check(&domain.domain, &domain.challenge).await;
        let lapsed = outcome.is_err_and(Reason::is_definitive);
        let recorded = self.record_check(&account, Some(ACTOR), &domain, outcome, now).await?;
        if lapsed && recorded {
            tracing::info!(domain_id = %domain.id, "a verified domain lapsed: its TXT record is gone or changed");
        }
        Ok(Some(lapsed && recorded))
    }

    /// Moves the pending domains created at or before `now - pending_ttl` to `failed` (`expired`),
    /// each with its `domain.failed`.
    async fn expire_pending(&self, now: i64) -> Result<usize, AgentTokenError> {
        if self.domains.pending_ttl_ms == 0 {
            return Ok(0);
        }
        let created_before = now.saturating_sub(self.domains.pending_ttl_ms);
        let mut expired = 0;
        loop {
            let rows: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT account_id, id, domain FROM domains WHERE status = 'pending' AND created_at <= $1 \
                 ORDER BY created_at, id LIMIT $2",
            )
            .bind(created_before)
            .bind(BATCH)
            .fetch_all(self.db.pool())
            .await?;
            let full = rows.len() as i64 == BATCH;
            for (account, id, domain) in rows {
                let (account, id): (AccountId, DomainId) = (stored_id(account)?, stored_id(id)?);
                expired += usize::from(self.expire(&account, &id, domain, now).await?);
            }
            if !full {
                return Ok(expired);
            }
        }
    }

    /// One pending domain to `failed` (`expired`), unless it changed meanwhile.
    async fn expire(
        &self,
        account: &AccountId,
        id: &DomainId,
        domain: String,
        now: i64,
    ) -> Result<bool, AgentTokenError> {
        let mut tx = self.db.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE domains SET status = 'failed', reason = $1, updated_at = $2 \
             WHERE account_id = $3 AND id = $4 AND status = 'pending'",
        )
        .bind(Reason::Expired.as_str())
        .bind(now)
        .bind(account.as_str())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        let event = DomainFailed {
            domain_id: id.to_string(),
            domain,
            reason: Reason::Expired.as_str().to_owned(),
            previous_status: DomainStatus::Pending.as_str().to_owned(),
        };
        self.outbox
            .enqueue(&mut tx, &envelope(account, Some(ACTOR), &event))
            .await?;
        self.outbox.commit(tx).await?;
        Ok(true)
    }

    /// Runs a round every tick (the re-check interval, at most a minute) until `shutdown`. A round
    /// that fails is logged and the next tick tries again.
    pub(crate) async fn check_domains_periodically(self, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(self.domains.tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => match self.run_domain_checks(now_ms()).await {
                    Ok(round) if round != DomainRound::default() => {
                        tracing::info!(checked = round.checked, lapsed = round.lapsed, expired = round.expired,
                            "domain check round");
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "domain check round failed; the next tick tries again"),
                },
            }
        }
    }
}
